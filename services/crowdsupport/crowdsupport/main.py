"""App factory of the crowdsupport service: `uvicorn --factory crowdsupport.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crowdsupport.consumers import SUBSCRIPTIONS
from crowdsupport.settings import CrowdsupportSettings
from shared.replica import replica_router
from shared.service_app import ServiceDefinition, build_app


def create_app(settings: CrowdsupportSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="crowdsupport", title="Sizhong 众扶 crowd-support: instruments, vouchers, mentors",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[replica_router()], subscriptions=SUBSCRIPTIONS,
    )
    return build_app(definition, settings or CrowdsupportSettings())
