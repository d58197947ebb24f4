"""API keys for machine clients: format, who may issue one, and how long it lives. Pure.

A key is `sz_<key id>_<secret>`; only sha256(secret) is stored and published, so a leaked database or topic
does not leak a usable key.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

MAX_DAYS = 365
ISSUER_ROLES = frozenset({"regulator", "admin"})


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret: str

    @property
    def presented(self) -> str:
        return f"sz_{self.key_id}_{self.secret}"

    @property
    def secret_sha256(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()


def generate() -> NewKey:
    return NewKey(key_id=secrets.token_hex(8), secret=secrets.token_urlsafe(32))


def may_issue(issuer_id: str, issuer_roles: frozenset[str], subject_id: str) -> str | None:
    """A regulator issues keys for itself; an admin for anyone. None when allowed, else the reason."""
    if "admin" in issuer_roles:
        return None
    if "regulator" in issuer_roles and issuer_id == subject_id:
        return None
    if "regulator" in issuer_roles:
        return "a regulator issues keys for itself only"
    return "only regulators (for themselves) and admins issue API keys"


def key_roles(requested: set[str] | None, holder_roles: frozenset[str]) -> frozenset[str] | str:
    """The key's roles: the requested ones, each held by the key's subject (default: all it holds)."""
    if not requested:
        return holder_roles
    extra = requested - holder_roles
    if extra:
        return f"the subject does not hold the role(s) {', '.join(sorted(extra))}"
    return frozenset(requested)
