"""Settings of the crowdsourcing service (the common ones for now; its own policy settings come with its domain)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class CrowdsourcingSettings(ServiceSettings):
    service_name: str = "crowdsourcing"
