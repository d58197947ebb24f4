"""App factory of the crowdsupport service: `uvicorn --factory crowdsupport.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crowdsupport.api import router
from crowdsupport.consumers import SUBSCRIPTIONS
from crowdsupport.jobs import crowdsupport_jobs
from crowdsupport.settings import CrowdsupportSettings
from shared.replica import replica_router
from shared.service_app import ServiceDefinition, build_app


def create_app(settings: CrowdsupportSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="crowdsupport", title="Sizhong 众扶 crowd-support: instruments, vouchers, mentors, patents, services",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, replica_router()], subscriptions=SUBSCRIPTIONS, jobs=crowdsupport_jobs, moves_money=True,
    )
    return build_app(definition, settings or CrowdsupportSettings())
