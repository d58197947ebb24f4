"""App factory of the credit service: `uvicorn --factory credit.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from credit import api, api_lists, api_reports
from credit.consumers import SUBSCRIPTIONS
from credit.contracts import LISTINGS_TOPIC, ListingCurrent
from credit.jobs import credit_jobs
from credit.settings import CreditSettings
from shared.service_app import ServiceDefinition, build_app


def create_app(settings: CreditSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="credit", title="Sizhong credit: records, scores, red and black lists",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[api.router, api_lists.router, api_reports.router], subscriptions=SUBSCRIPTIONS,
        also_publish={ListingCurrent.event_type: LISTINGS_TOPIC}, jobs=credit_jobs,
    )
    return build_app(definition, settings or CreditSettings())
