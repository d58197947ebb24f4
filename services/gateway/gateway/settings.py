"""Gateway settings: the common ones plus the key that protects identity numbers."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    pii_key: str = Field(min_length=32, description="HMAC key for identity numbers (PII_KEY)")
    token_ttl_minutes: int = Field(default=60, ge=1, le=24 * 60)
