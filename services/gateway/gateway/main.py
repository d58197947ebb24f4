"""Gateway app factory: `uvicorn --factory gateway.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from gateway.api import router
from gateway.console import router as console_router
from gateway.settings import GatewaySettings
from shared.service_app import ServiceDefinition, build_app


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="gateway", title="Sizhong gateway (identity, console, routing)",
        migrations=str(Path(__file__).parent / "migrations"), routers=[router, console_router],
    )
    return build_app(definition, settings or GatewaySettings())
