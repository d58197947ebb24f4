"""Gateway app factory: `uvicorn --factory gateway.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from gateway.api import router
from gateway.api_identity import router as identity_router
from gateway.console import router as console_router
from gateway.profile import router as profile_router
from gateway.routing import close_http_client, open_http_client
from gateway.routing import router as routing_router
from gateway.settings import GatewaySettings
from gateway.verification import SandboxRealNameVerifier
from shared.service_app import ServiceDefinition, build_app


async def _choose_verifier(app: FastAPI) -> None:
    """The real-name verifier the settings name (today only the sandbox, which checks against nothing)."""
    app.state.verifier = SandboxRealNameVerifier()


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="gateway", title="Sizhong gateway (identity, console, routing)",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, identity_router, profile_router, console_router, routing_router],
        on_start=(open_http_client, _choose_verifier), on_stop=(close_http_client,),
    )
    return build_app(definition, settings or GatewaySettings())
