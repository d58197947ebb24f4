"""Scheduled jobs of the crowd-support service: each runs every `every_seconds` of real time and decides by the
service clock (`app.state.clock`); after moving an adjustable clock, run one at once with
POST /testing/jobs/<name>/run.

- `voucher_payments` executes every voucher payout or claw-back still owed (a provider timeout left it
  pending), by its idempotency key, so each is executed once.
- `bookings` sweeps instrument bookings and mentor sessions (rule: `crowdsupport.domain.attendance`): a
  confirmed one nobody checked in to is a no-show once its check-in window has closed; one still pending the
  owner's approval when its slot starts expires and its slot is released. Each booking is swept in its own
  transaction, decided from stored state and the clock, so a second run (or another replica) does nothing
  twice; a failure on one booking is logged and the job carries on. Bookings that had started before the sweep
  existed (`cs_unswept_bookings`, migration `support_fixes_unswept`) are never judged.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from crowdsupport import flows
from crowdsupport.handlers.attendance import due_ids, sweep_booking
from shared.context import MoneyContext, ServiceContext
from shared.problems import DomainError
from shared.scheduler import Job

log = logging.getLogger(__name__)
BATCH = 500


def crowdsupport_jobs(app: FastAPI) -> list[Job]:
    return [Job("voucher_payments", lambda: flows.settle_pending(MoneyContext.of(app)), every_seconds=60),
            Job("bookings", lambda: sweep_bookings(ServiceContext.of(app)), every_seconds=60)]


async def sweep_bookings(ctx: ServiceContext) -> int:
    """Sweep every tracked pending or confirmed booking whose slot has started; returns how many were acted on."""
    now = ctx.clock.now()
    async with ctx.db.reading() as session:
        started = await due_ids(session, now, BATCH)
    acted = 0
    for booking_id in started:
        try:
            async with ctx.uow() as uow:
                if await sweep_booking(uow, booking_id, ctx.clock.now()) is not None:
                    acted += 1
        except DomainError as exc:  # the booking changed under us: the next run decides again
            log.info("bookings sweep skipped a booking", extra={"booking": booking_id, "why": exc.detail})
        except Exception:
            log.exception("bookings sweep failed on a booking; carrying on", extra={"booking": booking_id})
    return acted
