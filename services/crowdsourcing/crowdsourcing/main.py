"""App factory of the crowdsourcing service: `uvicorn --factory crowdsourcing.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crowdsourcing.api import router
from crowdsourcing.consumers import SUBSCRIPTIONS
from crowdsourcing.jobs import crowdsourcing_jobs
from crowdsourcing.settings import CrowdsourcingSettings
from shared.replica import replica_router
from shared.service_app import ServiceDefinition, build_app


def create_app(settings: CrowdsourcingSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="crowdsourcing", title="Sizhong 众包 crowdsourcing: tasks, escrow, disputes",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, replica_router()], subscriptions=SUBSCRIPTIONS, moves_money=True,
        jobs=crowdsourcing_jobs,
    )
    return build_app(definition, settings or CrowdsourcingSettings())
