"""Scheduled jobs of the maker-space service, on the service clock (`app.state.clock`). Run one at once with
POST /testing/jobs/<name>/run on an adjustable clock.

- `bookings`: the sweeper. A confirmed booking nobody checked in to is recorded as a no-show once its
  check-in window (start + grace) has closed, with the event credit scores; a booking still pending approval
  whose start has passed is cancelled and its credits refunded.

Each booking is acted on in its own transaction and the decision is made from stored state and the clock, so a
second run (or a run on another replica) finds nothing left to do. A refusal (the state moved meanwhile, or the
grace period has not passed yet) skips the booking; any other failure is logged and the job carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import FastAPI

from makerspace import handlers
from shared.auth import SERVICE_ROLE, Principal
from shared.booking import store
from shared.booking.models import Booking
from shared.booking.rules import BookingState
from shared.context import ServiceContext
from shared.problems import DomainError
from shared.scheduler import Job
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
SWEEPER = Principal(subject="system:makerspace", roles=frozenset({SERVICE_ROLE}), kind="service")
BATCH = 500


def makerspace_jobs(app: FastAPI) -> list[Job]:
    return [Job("bookings", lambda: sweep_bookings(ServiceContext.of(app)), every_seconds=60)]


async def sweep_bookings(ctx: ServiceContext) -> int:
    """No-shows after the grace period; unapproved bookings whose start has passed are cancelled (refunded)."""
    now = ctx.clock.now()
    async with ctx.db.reading() as session:
        confirmed = await store.started_ids(session, [BookingState.CONFIRMED], now, BATCH)
        pending = await store.started_ids(session, [BookingState.PENDING], now, BATCH)
    acted = await _each(ctx, confirmed, handlers.record_no_show, "no-show")
    return acted + await _each(ctx, pending, handlers.cancel_unapproved, "unapproved")


async def _each(ctx: ServiceContext, ids: list[str],
                act: Callable[[UnitOfWork, Principal, str, datetime], Awaitable[Booking]], what: str) -> int:
    acted = 0
    for booking_id in ids:
        try:
            async with ctx.uow() as uow:
                await act(uow, SWEEPER, booking_id, ctx.clock.now())
            acted += 1
        except DomainError as exc:  # still inside its grace period, or decided meanwhile
            log.debug("sweeper skipped a booking", extra={"booking": booking_id, "why": exc.detail, "as": what})
        except Exception:
            log.exception("sweeper failed on a booking; carrying on", extra={"booking": booking_id, "as": what})
    return acted
