"""Settings of the audit service."""

from __future__ import annotations

from shared.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    service_name: str = "audit"
