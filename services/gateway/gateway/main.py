"""Gateway app factory: `uvicorn --factory gateway.main:create_app`."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI

from gateway.api import router
from gateway.api_identity import router as identity_router
from gateway.console import router as console_router
from gateway.profile import router as profile_router
from gateway.routing import close_http_client, open_http_client
from gateway.routing import router as routing_router
from gateway.settings import GatewaySettings
from gateway.verification import choose_verifier
from shared.service_app import ServiceDefinition, build_app

log = logging.getLogger(__name__)


async def install_verifier(app: FastAPI) -> None:
    """The real-name verifier the settings name (REAL_NAME_VERIFIER, checked when the settings were read)."""
    name = app.state.settings.real_name_verifier
    app.state.verifier = choose_verifier(name)
    log.info("real-name verifier chosen", extra={"verifier": name})


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="gateway", title="Sizhong gateway (identity, console, routing)",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, identity_router, profile_router, console_router, routing_router],
        on_start=(open_http_client, install_verifier), on_stop=(close_http_client,),
    )
    return build_app(definition, settings or GatewaySettings())
