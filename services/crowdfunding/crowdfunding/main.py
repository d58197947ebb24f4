"""App factory of the crowdfunding service: `uvicorn --factory crowdfunding.main:create_app`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fastapi import FastAPI

from crowdfunding.api import routers
from crowdfunding.callbacks import PaymentCallbacks
from crowdfunding.consumers import SUBSCRIPTIONS
from crowdfunding.domain.policy import DEFAULT_POLICY
from crowdfunding.jobs import crowdfunding_jobs
from crowdfunding.models import Campaign, Pledge
from crowdfunding.settings import CrowdfundingSettings
from shared.replica import replica_router
from shared.service_app import ServiceDefinition, build_app

# What /subjects/{id}/summary counts for the gateway's aggregated profile.
SUMMARY = {"campaigns": (Campaign.founder_id, Campaign.organisation_id),
           "pledges": (Pledge.backer_id, Pledge.organisation_id)}


def service_definition(settings: CrowdfundingSettings) -> ServiceDefinition:
    async def warn_of_derived_settings(_app: FastAPI) -> None:
        settings.warn_if_callback_secret_derived()  # at start, once the JSON logs are set up

    return ServiceDefinition(
        name="crowdfunding", title="Sizhong 众筹 crowdfunding: campaigns, pledges, custody",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[*routers(), replica_router(SUMMARY)], subscriptions=SUBSCRIPTIONS, moves_money=True,
        jobs=crowdfunding_jobs, on_start=(warn_of_derived_settings,),
    )


def create_app(settings: CrowdfundingSettings | None = None) -> FastAPI:
    settings = settings or CrowdfundingSettings()
    app = build_app(service_definition(settings), settings)
    # Built once from the settings (validated above), never per request.
    app.state.crowdfunding_policy = replace(DEFAULT_POLICY, forbidden_phrases=settings.forbidden_phrases)
    app.state.payment_callbacks = PaymentCallbacks(settings.callback_secret, f"provider:{settings.payment_provider}")
    return app
