"""Settings of the crowdfunding service, read from the environment once at start and validated there (a bad value
stops the service before it serves anything)."""

from __future__ import annotations

import logging

from pydantic import Field, SecretStr, field_validator

from crowdfunding.callbacks import derived_secret
from crowdfunding.domain.policy import FORBIDDEN_PHRASES
from shared.settings import ServiceSettings

log = logging.getLogger("crowdfunding.settings")


class CrowdfundingSettings(ServiceSettings):
    service_name: str = "crowdfunding"
    # The key the payment provider signs its callbacks with; unset: derived from JWT_SECRET (development only; a
    # warning is logged at start).
    payment_callback_secret: SecretStr | None = Field(default=None, min_length=32)
    # 虚假宣传: the phrases review refuses in a campaign's texts (JSON list; matched case-insensitively).
    forbidden_phrases: tuple[str, ...] = FORBIDDEN_PHRASES

    @field_validator("forbidden_phrases")
    @classmethod
    def _phrases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(dict.fromkeys(p.strip() for p in value))
        if not cleaned or any(not p or len(p) > 100 for p in cleaned):
            raise ValueError("forbidden_phrases: a non-empty list of phrases of 1..100 characters")
        return cleaned

    @property
    def callback_secret(self) -> bytes:
        if self.payment_callback_secret is not None:
            return self.payment_callback_secret.get_secret_value().encode()
        return derived_secret(self.jwt_secret)

    def warn_if_callback_secret_derived(self) -> bool:
        """Deriving the callback key from JWT_SECRET is for development: anyone who holds the token secret can sign
        payment callbacks. Said once at start (a JSON log line), never silently; True if it was said."""
        if self.payment_callback_secret is not None:
            return False
        log.warning("PAYMENT_CALLBACK_SECRET is not set: the payment callback key is derived from JWT_SECRET; set "
                    "a separate secret of at least 32 characters in production",
                    extra={"setting": "PAYMENT_CALLBACK_SECRET", "derived_from": "JWT_SECRET"})
        return True
