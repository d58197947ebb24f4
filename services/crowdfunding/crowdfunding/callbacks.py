"""Signed payment-provider callbacks: the provider signs the raw body of each notification with HMAC-SHA256 under
a secret shared with this service; the callback endpoint refuses an unsigned one (401) or a wrong signature (403)
before reading it. Replays of a genuine callback are harmless: a payment outcome is applied once.

Header: `X-Payment-Signature: sha256=<hex of HMAC-SHA256(secret, raw body)>`.

The secret is `PAYMENT_CALLBACK_SECRET`; without it, a key derived from `JWT_SECRET` (development and tests: set
the real one in production, it is the provider's). `SandboxCallbacks` is the sandbox provider's side: it builds and
signs a notification as a real provider would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from shared.problems import DomainError

SIGNATURE_HEADER = "X-Payment-Signature"
_SCHEME = "sha256="
_DERIVATION_LABEL = b"sizhong crowdfunding payment callbacks v1"


def derived_secret(jwt_secret: str) -> bytes:
    """The development default: a key of its own (not the JWT key itself) derived from the JWT secret."""
    return hmac.new(jwt_secret.encode(), _DERIVATION_LABEL, hashlib.sha256).digest()


def sign(secret: bytes, body: bytes) -> str:
    return _SCHEME + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verified(secret: bytes, body: bytes, header: str | None) -> bool | None:
    """None: no signature; False: a wrong one; True: the body is the provider's."""
    if not header:
        return None
    return hmac.compare_digest(header.strip().encode(), sign(secret, body).encode())


@dataclass(frozen=True)
class PaymentCallbacks:
    """The service's side: checks a callback's signature (kept on `app.state`, built once at start)."""

    secret: bytes
    actor: str  # who the applied outcome is attributed to: provider:<name>

    def check(self, body: bytes, header: str | None) -> None:
        outcome = verified(self.secret, body, header)
        if outcome is None:
            raise DomainError(401, f"a payment callback must carry the provider's {SIGNATURE_HEADER} header",
                              field=SIGNATURE_HEADER)
        if not outcome:
            raise DomainError(403, "the payment callback's signature does not match its body",
                              field=SIGNATURE_HEADER)


@dataclass(frozen=True)
class SandboxCallbacks:
    """The sandbox provider's notifications, signed as a real provider signs them."""

    secret: bytes

    def notification(self, pledge_id: str, status: str, reference: str = "",
                     failure: str | None = None) -> tuple[bytes, dict[str, str]]:
        payload: dict[str, Any] = {"pledge_id": pledge_id, "status": status, "reference": reference}
        if failure is not None:
            payload["failure"] = failure
        body = json.dumps(payload, separators=(",", ":")).encode()
        return body, {SIGNATURE_HEADER: sign(self.secret, body), "content-type": "application/json"}
