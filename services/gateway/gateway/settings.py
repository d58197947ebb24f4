"""Gateway settings: the common ones plus the key that protects identity numbers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    pii_key: str = Field(min_length=32, description="HMAC key for identity numbers (PII_KEY)")
    token_ttl_minutes: int = Field(default=60, ge=1, le=24 * 60)
    real_name_verifier: Literal["sandbox"] = Field(
        default="sandbox", description="REAL_NAME_VERIFIER: the only one built in is the sandbox (test data only)")
    proxy_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    profile_part_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
