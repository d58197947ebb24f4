"""The app factory every service uses: database, migrations, relay, consumers, probes, feed, errors.

Everything is built inside `build_app`/the lifespan from validated settings; nothing at import time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from shared.api_keys import with_api_keys
from shared.auth import SERVICE_ROLE, issue_token, require_roles
from shared.bus import broker_reachable
from shared.clock import AdjustableClock, Clock, SystemClock
from shared.completeness import CompletenessMonitor
from shared.consumer import EventApplier, KafkaEventConsumer, Subscriptions
from shared.db import Database
from shared.inbox import progress_of
from shared.logs import configure_logging
from shared.migrations import upgrade_to_head
from shared.outbox import read_feed
from shared.payments import Payments, payment_provider
from shared.problems import BodySizeLimit, install_problem_handlers, problem
from shared.relay import OutboxRelay
from shared.scheduler import Job, Scheduler
from shared.settings import ServiceSettings, dlq_for
from shared.testing_api import testing_router
from shared.tracing import child_of, current_traceparent
from shared.uow import UnitOfWork
from shared.worker import freeze_startup_heap

Hook = Callable[[FastAPI], Awaitable[None]]
JobsFactory = Callable[[FastAPI], Sequence[Job]]


@dataclass(frozen=True)
class ServiceDefinition:
    """What makes a service itself; the rest of the process is the same for all seven."""

    name: str
    title: str
    migrations: str
    routers: Sequence[APIRouter] = ()
    subscriptions: Subscriptions | None = None  # every consuming service also keeps the API-key replica
    extra_topics: tuple[str, ...] = ()
    event_topics: Mapping[str, str] = field(default_factory=dict)  # event type -> topic, if not its own topic
    also_publish: Mapping[str, str] = field(default_factory=dict)  # event type -> a further topic, as well
    on_start: Sequence[Hook] = field(default_factory=tuple)
    on_stop: Sequence[Hook] = field(default_factory=tuple)
    jobs: JobsFactory | None = None  # periodic jobs (deadlines, settlement), given the app for its state
    moves_money: bool = False  # builds app.state.payments (provider per settings); needs the money tables
    # adds service-specific findings to GET /completeness (audit: the gaps that backfill could not fill)
    completeness_report: Callable[[AsyncSession], Awaitable[dict[str, Any]]] | None = None


def build_app(definition: ServiceDefinition, settings: ServiceSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        db = Database(settings.effective_database_url, sqlite_driver=settings.sqlite_driver)
        await upgrade_to_head(db, definition.migrations)
        relay = OutboxRelay(
            db, bootstrap=settings.kafka_bootstrap_servers, topic=settings.topic,
            topics_to_ensure=[settings.topic, dlq_for(settings.topic), *definition.extra_topics],
            partitions=settings.topic_partitions, replication=settings.topic_replication_factor,
            topic_for_type=definition.event_topics, also_to=definition.also_publish,
            batch_size=settings.relay_batch_size, poll_seconds=settings.relay_poll_seconds,
            max_backoff_seconds=settings.relay_max_backoff_seconds,
        )
        app.state.db, app.state.relay = db, relay
        app.state.applier = app.state.kafka_consumer = app.state.completeness = app.state.scheduler = None
        app.state.payments = (Payments(db, payment_provider(settings.payment_provider, db)) if definition.moves_money
                              else None)
        relay.start()
        if definition.subscriptions is not None:
            applier = EventApplier(db, settings.service_name, settings.service_name,
                                   with_api_keys(definition.subscriptions), on_commit=relay.wake)
            kafka = KafkaEventConsumer(
                applier, bootstrap=settings.kafka_bootstrap_servers, partitions=settings.topic_partitions,
                replication=settings.topic_replication_factor, max_attempts=settings.consumer_max_attempts,
                retry_backoff=settings.consumer_retry_backoff_seconds,
                session_timeout_ms=settings.consumer_session_timeout_ms,
                fault_kill_after_commit_type=settings.fault_kill_after_commit_type,
            )
            monitor = CompletenessMonitor(
                applier, feed_urls=settings.service_urls, token=lambda: service_token(settings),
                grace_seconds=settings.gap_grace_seconds, reconcile_seconds=settings.reconcile_interval_seconds,
                max_attempts=settings.consumer_max_attempts, dead_letter=kafka.dead_letter_from_feed,
            )
            app.state.applier, app.state.kafka_consumer, app.state.completeness = applier, kafka, monitor
            kafka.start()
            monitor.start()
        for hook in definition.on_start:
            await hook(app)
        if definition.jobs is not None:
            app.state.scheduler = Scheduler(list(definition.jobs(app)))
            app.state.scheduler.start()
        freeze_startup_heap()
        try:
            yield
        finally:
            for hook in definition.on_stop:
                await hook(app)
            for part in (app.state.scheduler, app.state.completeness, app.state.kafka_consumer, relay):
                if part is not None:
                    await part.stop()
            await db.dispose()

    app = FastAPI(title=definition.title, lifespan=lifespan)
    app.state.settings = settings
    app.state.clock = AdjustableClock() if settings.clock_mode == "adjustable" else SystemClock()
    app.state.service = definition
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def _trace(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        token = current_traceparent.set(child_of(request.headers.get("traceparent")))
        try:
            response = await call_next(request)
            response.headers["traceparent"] = current_traceparent.get() or ""
            return response
        finally:
            current_traceparent.reset(token)

    app.include_router(platform_router())
    if settings.clock_mode == "adjustable":
        app.include_router(testing_router())
    for router in definition.routers:
        app.include_router(router)
    return app


def service_token(settings: ServiceSettings) -> str:
    """A short-lived token a service presents to another service's feed."""
    return issue_token(settings.jwt_secret, settings.jwt_issuer, f"service:{settings.service_name}",
                       {SERVICE_ROLE}, kind="service", ttl=timedelta(minutes=5))


async def _unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    state = request.app.state
    async with UnitOfWork(state.db, state.settings.service_name, state.relay.wake) as uow:
        yield uow


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.reading() as session:
        yield session


def _now(request: Request) -> datetime:
    """The service's clock (the system clock, or the adjustable one on a test platform)."""
    clock: Clock = request.app.state.clock
    return clock.now()


UnitOfWorkDep = Annotated[UnitOfWork, Depends(_unit_of_work)]
Now = Annotated[datetime, Depends(_now)]
ReadSessionDep = Annotated[AsyncSession, Depends(_read_session)]
OPERATORS = ("admin", "regulator", SERVICE_ROLE)
MAX_SEQUENCE = 2**31 - 1  # sequences and log indexes are 32-bit integer columns


def platform_router() -> APIRouter:
    router = APIRouter(tags=["platform"])

    @router.get("/healthz")
    async def healthz(request: Request) -> dict[str, str]:
        return {"status": "ok", "service": request.app.state.settings.service_name}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        started = time.perf_counter()
        try:
            await request.app.state.db.ping()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        reachable = await broker_reachable(request.app.state.settings.kafka_bootstrap_servers)
        checks["broker"] = "ok" if reachable else "unreachable"
        checks["relay"] = "ok" if request.app.state.relay.connected else "connecting"
        consumer = request.app.state.kafka_consumer
        if consumer is not None:
            checks["consumer"] = "ok" if consumer.assigned else "joining"
        ready = all(value == "ok" for value in checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks,
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}
        if ready:
            return JSONResponse(body)
        return problem(503, "Service Unavailable", "a dependency is unreachable", checks=checks)

    @router.get("/events", dependencies=[require_roles(*OPERATORS)])
    async def events_feed(
        session: ReadSessionDep,
        after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="return events with sequence > after")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """The replayable feed of this service's outbox, in sequence order."""
        events, head = await read_feed(session, after, limit)
        return {"events": [e.model_dump(mode="json") for e in events], "head": head,
                "next_after": events[-1].sequence if events else after}

    @router.get("/completeness", dependencies=[require_roles(*OPERATORS)])
    async def completeness(request: Request, session: ReadSessionDep) -> dict[str, Any]:
        """Per source: how far this service's consumer has everything, and what it has seen."""
        state = request.app.state
        sources = {}
        if state.applier is not None:
            for source, row in (await progress_of(session, state.applier.consumer)).items():
                sources[source] = {"contiguous_through": row.contiguous_through,
                                   "highest_seen": row.highest_seen,
                                   "missing": row.highest_seen - row.contiguous_through}
        report = state.service.completeness_report
        return {
            **(await report(session) if report is not None else {}),
            "service": state.settings.service_name,
            "sources": sources,
            "relay": {"published_total": state.relay.published_total, "last_error": state.relay.last_error},
            "dead_lettered": state.kafka_consumer.dead_lettered if state.kafka_consumer else 0,
            "backfilled": state.completeness.backfilled if state.completeness else 0,
            "reconciled": sorted(state.completeness.reconciled) if state.completeness else [],
            "duplicates_skipped": state.applier.duplicates_skipped if state.applier else 0,
        }

    return router
