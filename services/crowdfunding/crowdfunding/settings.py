"""Settings of the crowdfunding service (the common ones for now; its own policy settings come with its domain)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class CrowdfundingSettings(ServiceSettings):
    service_name: str = "crowdfunding"
