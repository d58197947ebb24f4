"""App factory of the audit service: `uvicorn --factory audit.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from audit.api import router
from audit.consumers import SUBSCRIPTIONS
from audit.settings import AuditSettings
from shared.service_app import ServiceDefinition, build_app


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="audit", title="Sizhong audit: verifiable log, supervision, statistics",
        migrations=str(Path(__file__).parent / "migrations"), routers=[router], subscriptions=SUBSCRIPTIONS,
        extra_topics=("sizhong.supervision.orders",),
    )
    return build_app(definition, settings or AuditSettings())
