"""App factory of the credit service: `uvicorn --factory credit.main:create_app`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from credit import api, api_deadlines, api_lists, api_reports
from credit.consumers import credit_subscriptions
from credit.contracts import LISTINGS_TOPIC, ListingCurrent
from credit.jobs import credit_jobs
from credit.settings import CreditSettings
from shared.clock import Clock
from shared.service_app import ServiceDefinition, build_app


class AppClock:
    """The app's clock, read when asked: the consumers are composed before `build_app` chooses the clock (system,
    or adjustable on a test platform), and must date what they do by that same clock."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    def now(self) -> datetime:
        if self.app is None:
            raise RuntimeError("the credit app is not built yet")
        clock: Clock = self.app.state.clock
        return clock.now()


def create_app(settings: CreditSettings | None = None) -> FastAPI:
    clock = AppClock()
    definition = ServiceDefinition(
        name="credit", title="Sizhong credit: records, scores, red and black lists",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[api.router, api_lists.router, api_deadlines.router, api_reports.router],
        subscriptions=credit_subscriptions(clock),
        also_publish={ListingCurrent.event_type: LISTINGS_TOPIC}, jobs=credit_jobs,
    )
    clock.app = build_app(definition, settings or CreditSettings())
    return clock.app
