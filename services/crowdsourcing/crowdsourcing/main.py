"""App factory of the crowdsourcing service: `uvicorn --factory crowdsourcing.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crowdsourcing.api import router
from crowdsourcing.consumers import SUBSCRIPTIONS
from crowdsourcing.jobs import crowdsourcing_jobs
from crowdsourcing.models import Bid, Rating, Task
from crowdsourcing.settings import CrowdsourcingSettings
from shared.replica import replica_router
from shared.service_app import ServiceDefinition, build_app

# What /subjects/{id}/summary counts for the gateway's aggregated profile.
SUMMARY = {"tasks_posted": (Task.poster_id, Task.organisation_id), "tasks_assigned": (Task.assignee_id,),
           "bids": (Bid.solver_id,), "ratings_received": (Rating.ratee_id,)}


def create_app(settings: CrowdsourcingSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="crowdsourcing", title="Sizhong 众包 crowdsourcing: tasks, escrow, disputes",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, replica_router(SUMMARY)], subscriptions=SUBSCRIPTIONS, moves_money=True,
        jobs=crowdsourcing_jobs,
    )
    return build_app(definition, settings or CrowdsourcingSettings())
