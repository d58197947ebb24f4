"""Settings of the credit service."""

from __future__ import annotations

from shared.settings import ServiceSettings


class CreditSettings(ServiceSettings):
    service_name: str = "credit"
