"""Password hashing (scrypt), keyed hashes and sealing of identity numbers; constant-time comparison. Pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _scheme, n, r, p, salt, digest = stored.split("$")
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


def protect_number(key: str, number: str) -> str:
    """Keyed hash of an identity number: finds duplicates without storing the number."""
    return hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()


def _fernet(key: str) -> Fernet:
    derived = hashlib.sha256(b"sizhong-pii-seal:" + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal_number(key: str, number: str) -> str:
    """Authenticated encryption of an identity number, for the few who may see it whole."""
    return _fernet(key).encrypt(number.encode()).decode()


def open_number(key: str, sealed: str) -> str:
    return _fernet(key).decrypt(sealed.encode()).decode()
