"""App factory of the credit service: `uvicorn --factory credit.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from credit.api import router
from credit.consumers import SUBSCRIPTIONS
from credit.settings import CreditSettings
from shared.service_app import ServiceDefinition, build_app


def create_app(settings: CreditSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="credit", title="Sizhong credit: records, scores, red and black lists",
        migrations=str(Path(__file__).parent / "migrations"), routers=[router], subscriptions=SUBSCRIPTIONS,
        extra_topics=("sizhong.credit.listings",),
    )
    return build_app(definition, settings or CreditSettings())
