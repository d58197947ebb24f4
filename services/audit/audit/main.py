"""App factory of the audit service: `uvicorn --factory audit.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from audit.api import public_router, router
from audit.consumers import SUBSCRIPTIONS
from audit.log import LogTree, load_signer, sign_checkpoint
from audit.settings import AuditSettings
from shared.scheduler import Job
from shared.service_app import ServiceDefinition, build_app


async def _start_log(app: FastAPI) -> None:
    app.state.signer = load_signer(app.state.settings)
    app.state.log_tree = LogTree(app.state.db)


def audit_jobs(app: FastAPI) -> list[Job]:
    async def checkpoint() -> int:
        state = app.state
        signed = await sign_checkpoint(state.db, state.log_tree, state.signer, state.clock.now(), only_if_grown=True)
        return 0 if signed is None else 1

    return [Job("checkpoint", checkpoint, every_seconds=app.state.settings.audit_checkpoint_interval_seconds)]


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="audit", title="Sizhong audit: verifiable log, supervision, statistics",
        migrations=str(Path(__file__).parent / "migrations"), routers=[router, public_router],
        subscriptions=SUBSCRIPTIONS, extra_topics=("sizhong.supervision.orders",),
        on_start=(_start_log,), jobs=audit_jobs,
    )
    return build_app(definition, settings or AuditSettings())
