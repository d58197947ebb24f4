"""Gateway settings: the common ones plus the key that protects identity numbers and the real-name verifier."""

from __future__ import annotations

from pydantic import Field, field_validator

from gateway.verification import VERIFIERS
from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    pii_key: str = Field(min_length=32, description="HMAC key for identity numbers (PII_KEY)")
    token_ttl_minutes: int = Field(default=60, ge=1, le=24 * 60)
    real_name_verifier: str = Field(
        default="sandbox", description="REAL_NAME_VERIFIER: one of gateway.verification.VERIFIERS; the only one "
                                       "built in is the sandbox, which checks against no registry")
    proxy_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    profile_part_timeout_seconds: float = Field(default=2.0, gt=0, le=60)

    @field_validator("real_name_verifier")
    @classmethod
    def _known_verifier(cls, name: str) -> str:
        if name not in VERIFIERS:
            raise ValueError(f"unknown real-name verifier {name!r}; known: {', '.join(sorted(VERIFIERS))}")
        return name
