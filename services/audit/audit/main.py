"""App factory of the audit service: `uvicorn --factory audit.main:create_app`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from audit.api import public_router, router
from audit.api_query import router as query_router
from audit.api_statistics import completeness_report
from audit.api_statistics import router as statistics_router
from audit.api_supervision import router as supervision_router
from audit.consumers import SUBSCRIPTIONS
from audit.gaps import scan_gaps
from audit.log import LogTree, load_signer, sign_checkpoint
from audit.settings import AuditSettings
from audit.stream import RegulatorStream
from audit.supervision import flag_overdue
from shared.scheduler import Job
from shared.service_app import ServiceDefinition, build_app
from shared.supervision import ORDERS_TOPIC, SupervisionOrderIssued
from shared.uow import UnitOfWork


async def _start_log(app: FastAPI) -> None:
    settings: AuditSettings = app.state.settings
    app.state.signer = load_signer(settings)
    app.state.log_tree = LogTree(app.state.db)
    app.state.stream = RegulatorStream(
        app.state.db, bootstrap=settings.kafka_bootstrap_servers, topic=settings.topic,
        partitions=settings.topic_partitions, replication=settings.topic_replication_factor,
        batch_size=settings.relay_batch_size, max_backoff_seconds=settings.relay_max_backoff_seconds)
    app.state.stream.start()


async def _stop_stream(app: FastAPI) -> None:
    await app.state.stream.stop()


def audit_jobs(app: FastAPI) -> list[Job]:
    state = app.state
    settings: AuditSettings = state.settings

    async def checkpoint() -> int:
        signed = await sign_checkpoint(state.db, state.log_tree, state.signer, state.clock.now(), only_if_grown=True)
        return 0 if signed is None else 1

    async def overdue_orders() -> int:
        async with UnitOfWork(state.db, "audit", state.relay.wake) as uow:
            return await flag_overdue(uow, state.clock.now(), timedelta(seconds=settings.audit_order_confirm_seconds))

    async def unfilled_gaps() -> int:
        async with UnitOfWork(state.db, "audit", state.relay.wake) as uow:
            return await scan_gaps(uow, "audit", state.clock.now(),
                                   timedelta(seconds=settings.audit_gap_report_after_seconds))

    every = settings.audit_watch_interval_seconds
    return [Job("checkpoint", checkpoint, every_seconds=settings.audit_checkpoint_interval_seconds),
            Job("supervision_overdue", overdue_orders, every_seconds=every),
            Job("unfilled_gaps", unfilled_gaps, every_seconds=every)]


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    definition = ServiceDefinition(
        name="audit", title="Sizhong audit: verifiable log, supervision, statistics",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, query_router, supervision_router, statistics_router, public_router],
        subscriptions=SUBSCRIPTIONS, extra_topics=(ORDERS_TOPIC,),
        event_topics={SupervisionOrderIssued.event_type: ORDERS_TOPIC},
        on_start=(_start_log,), on_stop=(_stop_stream,), jobs=audit_jobs, completeness_report=completeness_report,
    )
    return build_app(definition, settings or AuditSettings())
