"""App factory of the makerspace service: `uvicorn --factory makerspace.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from makerspace.api import router
from makerspace.consumers import SUBSCRIPTIONS
from makerspace.jobs import makerspace_jobs
from makerspace.models import Application, Space
from makerspace.settings import MakerspaceSettings
from shared.replica import replica_router
from shared.service_app import ServiceDefinition, build_app

# What /subjects/{id}/summary counts for the gateway's aggregated profile.
SUMMARY = {"spaces_operated": (Space.operator_id, Space.organisation_id),
           "residency_applications": (Application.applicant_id, Application.organisation_id)}


def create_app(settings: MakerspaceSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="makerspace", title="Sizhong 众创 maker-spaces: spaces, residency, bookings",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, replica_router(SUMMARY)], subscriptions=SUBSCRIPTIONS, jobs=makerspace_jobs,
    )
    return build_app(definition, settings or MakerspaceSettings())
