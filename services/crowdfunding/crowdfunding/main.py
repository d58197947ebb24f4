"""App factory of the crowdfunding service: `uvicorn --factory crowdfunding.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crowdfunding.api import routers
from crowdfunding.consumers import SUBSCRIPTIONS
from crowdfunding.jobs import crowdfunding_jobs
from crowdfunding.models import Campaign, Pledge
from crowdfunding.settings import CrowdfundingSettings
from shared.replica import replica_router
from shared.service_app import ServiceDefinition, build_app

# What /subjects/{id}/summary counts for the gateway's aggregated profile.
SUMMARY = {"campaigns": (Campaign.founder_id, Campaign.organisation_id),
           "pledges": (Pledge.backer_id, Pledge.organisation_id)}


def create_app(settings: CrowdfundingSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="crowdfunding", title="Sizhong 众筹 crowdfunding: campaigns, pledges, custody",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[*routers(), replica_router(SUMMARY)], subscriptions=SUBSCRIPTIONS, moves_money=True,
        jobs=crowdfunding_jobs,
    )
    return build_app(definition, settings or CrowdfundingSettings())
