"""Scheduled jobs of the credit service, on the service clock. Run one at once with POST /testing/jobs/<name>/run
on an adjustable clock.

- `listings`: a notified entry whose notice period is over is listed; a listed entry whose window has closed
  expires (a compensating event: the row stays). Each entry in its own transaction; decided from stored state
  and the clock, so a second run finds nothing to do.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlmodel import col, select

from credit import lists
from credit.domain.listings import ListingState
from credit.domain.policy import DEFAULT_POLICY
from credit.models import CreditListing
from shared.context import ServiceContext
from shared.scheduler import Job

log = logging.getLogger(__name__)
BATCH = 500


def credit_jobs(app: FastAPI) -> list[Job]:
    return [Job("listings", lambda: advance_listings(ServiceContext.of(app)), every_seconds=30)]


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
