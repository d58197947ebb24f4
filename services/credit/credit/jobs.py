"""Scheduled jobs of the credit service, on the service clock. Run one at once with POST /testing/jobs/<name>/run
on an adjustable clock.

- `listings`: a notified entry whose notice period is over is listed; a listed entry whose window has closed
  expires (a compensating event: the row stays). Each entry in its own transaction; decided from stored state
  and the clock, so a second run finds nothing to do.
- `overdue`: an objection still pending after its feedback deadline (10 working days) or a repair request after
  its decision deadline (3 working days) is marked overdue and announced (`objection.overdue`, `repair.overdue`),
  once per item: the mark is stored, and only an unmarked row can be marked (`lists.mark_overdue`).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlmodel import col, select

from credit import lists
from credit.domain.listings import ListingState
from credit.domain.policy import DEFAULT_POLICY
from credit.models import CreditListing, CreditObjection, CreditRepair
from shared.context import ServiceContext
from shared.scheduler import Job

log = logging.getLogger(__name__)
BATCH = 500


def credit_jobs(app: FastAPI) -> list[Job]:
    return [Job("listings", lambda: advance_listings(ServiceContext.of(app)), every_seconds=30),
            Job("overdue", lambda: mark_overdue(ServiceContext.of(app)), every_seconds=60)]


async def advance_listings(ctx: ServiceContext) -> int:
    now = ctx.clock.now()
    async with ctx.db.reading() as session:
        due = list((await session.execute(
            select(CreditListing.id).where(CreditListing.state == ListingState.NOTIFIED.value,
                                           col(CreditListing.notice_ends_at) <= now)
            .order_by(col(CreditListing.notice_ends_at)).limit(BATCH))).scalars())
        expired = list((await session.execute(
            select(CreditListing.id).where(CreditListing.state == ListingState.LISTED.value,
                                           col(CreditListing.publish_until) <= now)
            .order_by(col(CreditListing.publish_until)).limit(BATCH))).scalars())
    acted = 0
    for listing_id, expiring in [*((i, False) for i in due), *((i, True) for i in expired)]:
        try:
            async with ctx.uow() as uow:
                listing = await uow.session.get(CreditListing, listing_id)
                if listing is None:
                    continue
                if expiring and listing.state == ListingState.LISTED.value:
                    await lists.end(uow, listing, "expired", None, now, DEFAULT_POLICY)
                elif not expiring and listing.state == ListingState.NOTIFIED.value:
                    await lists.list_after_notice(uow, listing, now, DEFAULT_POLICY)
                else:
                    continue  # decided meanwhile (an objection upheld during the notice)
                await uow.commit()
                acted += 1
        except Exception:
            log.exception("listing job failed on an entry; carrying on", extra={"listing": listing_id})
    return acted


async def mark_overdue(ctx: ServiceContext) -> int:
    """Objections and repair requests past their deadline and still pending, oldest deadline first; each in its
    own transaction, so one that fails is logged and retried at the next run without holding back the rest."""
    now = ctx.clock.now()
    acted = 0
    for model, due in ((CreditObjection, CreditObjection.feedback_due), (CreditRepair, CreditRepair.decide_by)):
        async with ctx.db.reading() as session:
            ids = list((await session.execute(
                select(model.id).where(model.state == "pending", col(model.overdue_at).is_(None), col(due) < now)
                .order_by(col(due), col(model.id)).limit(BATCH))).scalars())
        for row_id in ids:
            try:
                async with ctx.uow() as uow:
                    row = await uow.session.get(model, row_id)
                    if row is None or not await lists.mark_overdue(uow, row, now):
                        continue  # decided or marked meanwhile
                    await uow.commit()
                    acted += 1
            except Exception:
                log.exception("overdue job failed on an item; carrying on", extra={"item": row_id})
    return acted
