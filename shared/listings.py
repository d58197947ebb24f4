"""Joint incentives and punishments (联合奖惩): each crowd service's local replica of the credit listings, kept from
credit's `listing.current` events, and the guards its commands call. Never a call to credit on the request path:
a crowd service keeps enforcing the lists while credit is down.

- `ensure_not_blacklisted(session, subject_id, action)` refuses with a 403 problem whose body names the listing
  (id, tier, rule, basis, until) and how to object (a POST on the credit service, feedback within
  `OBJECTION_FEEDBACK_WORKING_DAYS`, the number credit's policy uses).
- `red_list_benefits(session, subject_id)` gives a red-listed subject's fast-track review and commission relief,
  with the numbers credit's policy put on the event.
- `fast_tracked(session, *subject_ids)` and its SQL twin `fast_track(*subject_columns)` say whether an item a
  person reviews goes ahead of the queue; `fast_track_first(flag)` is the ordering key that puts it there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import ColumnElement, and_, case, exists, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from shared.db import utc_column
from shared.envelope import CloudEvent
from shared.problems import DomainError
from shared.uow import UnitOfWork

if TYPE_CHECKING:
    from credit.contracts import ListingCurrent


OBJECTION_FEEDBACK_WORKING_DAYS = 10
"""Feedback on an objection (异议) is due within this many working days (DOMAIN.md). Credit's policy takes its
`objection_working_days` from here (shared cannot import a service), so the deadline credit works to and the one
a refusal here tells the subject are one number."""


class ListingReplica(SQLModel, table=True):
    __tablename__ = "listing_replica"

    subject_id: str = Field(primary_key=True, max_length=64)
    black_listing_id: str | None = Field(default=None, max_length=64)
    black_tier: str | None = Field(default=None, max_length=10)
    black_rule: str | None = Field(default=None, max_length=60)
    black_basis: str | None = Field(default=None, max_length=400)
    black_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    red_listing_id: str | None = Field(default=None, max_length=64)
    red_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    fast_track_review: bool = False
    commission_relief_percent: int = 0
    objection_url: str = Field(default="", max_length=200)
    credit_sequence: int = 0  # the credit event this row reflects: an older one arriving later is ignored
    source_event_id: str = Field(max_length=64)


def create_listing_replica_table() -> None:
    """Migration helper: the replica table, in each crowd service's own database."""
    op.create_table(
        "listing_replica",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("black_listing_id", sa.String(64), nullable=True),
        sa.Column("black_tier", sa.String(10), nullable=True),
        sa.Column("black_rule", sa.String(60), nullable=True),
        sa.Column("black_basis", sa.String(400), nullable=True),
        sa.Column("black_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("red_listing_id", sa.String(64), nullable=True),
        sa.Column("red_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fast_track_review", sa.Boolean, nullable=False),
        sa.Column("commission_relief_percent", sa.Integer, nullable=False),
        sa.Column("objection_url", sa.String(200), nullable=False),
        sa.Column("credit_sequence", sa.Integer, nullable=False),
        sa.Column("source_event_id", sa.String(64), nullable=False),
    )


async def remember_listing(uow: UnitOfWork, event: CloudEvent, data: ListingCurrent) -> None:
    """Upsert the subject's current listing; a backfilled older event does not overwrite a newer one."""
    row = await uow.session.get(ListingReplica, data.subject_id)
    if row is None:
        row = ListingReplica(subject_id=data.subject_id, source_event_id=event.id)
        uow.session.add(row)
    elif row.credit_sequence >= event.sequence:
        return
    black, red = data.black, data.red
    row.black_listing_id = black.listing_id if black else None
    row.black_tier, row.black_rule = (black.tier, black.rule) if black else (None, None)
    row.black_basis, row.black_until = (black.basis, black.until) if black else (None, None)
    row.red_listing_id, row.red_until = (red.listing_id, red.until) if red else (None, None)
    row.fast_track_review = data.fast_track_review
    row.commission_relief_percent = relief_percent(data.commission_relief_percent)
    row.objection_url, row.credit_sequence, row.source_event_id = data.objection_url, event.sequence, event.id


def relief_percent(value: int) -> int:
    """A commission relief is a percentage of the commission, 0..100. Credit's policy should never say otherwise,
    but a value outside it must not make every payout fail: it is clamped where it enters the replica (and where
    a row stored before is read), never a negative commission or a surcharge."""
    return min(100, max(0, value))


async def ensure_not_blacklisted(session: AsyncSession, subject_id: str, action: str) -> None:
    """Refuse `action` to a black-listed subject, naming the listing and the way to object."""
    row = await session.get(ListingReplica, subject_id)
    if row is None or row.black_listing_id is None:
        return
    raise DomainError(
        403, f"{subject_id} is on the black list ({row.black_tier} tier): {action} is refused", rule="blacklisted",
        listing={"id": row.black_listing_id, "tier": row.black_tier, "rule": row.black_rule,
                 "reason": row.black_basis, "until": row.black_until.isoformat() if row.black_until else None},
        objection=objection_route(row.objection_url))


def objection_route(objection_url: str) -> dict[str, str]:
    """How a refused subject objects: a POST on credit, and when feedback is due (credit's policy's number)."""
    return {"service": "credit", "method": "POST", "path": objection_url,
            "how": "file an objection (异议) with your grounds; feedback within "
                   f"{OBJECTION_FEEDBACK_WORKING_DAYS} working days"}


async def is_blacklisted(session: AsyncSession, subject_id: str) -> bool:
    row = await session.get(ListingReplica, subject_id)
    return row is not None and row.black_listing_id is not None


@dataclass(frozen=True)
class RedListBenefits:
    red_listed: bool
    fast_track_review: bool
    commission_relief_percent: int  # of the commission the policy would otherwise charge

    def relieved(self, commission_fen: int) -> int:
        """The commission after relief, rounded in the subject's favour."""
        return commission_fen * (100 - self.commission_relief_percent) // 100


NO_BENEFITS = RedListBenefits(False, False, 0)


async def red_list_benefits(session: AsyncSession, subject_id: str) -> RedListBenefits:
    row = await session.get(ListingReplica, subject_id)
    if row is None or row.red_listing_id is None or row.black_listing_id is not None:
        return NO_BENEFITS
    return RedListBenefits(True, row.fast_track_review, relief_percent(row.commission_relief_percent))


async def fast_tracked(session: AsyncSession, *subject_ids: str | None) -> bool:
    """Fast-track review (联合激励) for an item asked for by these subjects (an applicant and its organisation, say):
    one is red-listed with fast-track review and none is black-listed (a punishment outweighs the incentive)."""
    rows = [await session.get(ListingReplica, s) for s in dict.fromkeys(subject_ids) if s]  # one read per subject
    listed = [row for row in rows if row is not None]
    if any(row.black_listing_id is not None for row in listed):
        return False
    return any(row.red_listing_id is not None and row.fast_track_review for row in listed)


def fast_track(*subjects: Any, awaiting: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
    """The SQL twin of `fast_tracked` for each row of a query, from the row's subject columns (a NULL column, such
    as an absent organisation, counts as no subject); `awaiting` narrows it to the rows still waiting for review."""
    def listed(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
        return exists().where(or_(*(col(ListingReplica.subject_id) == s for s in subjects)), *conditions)

    red = listed(col(ListingReplica.red_listing_id).is_not(None), col(ListingReplica.fast_track_review).is_(True))
    flag = and_(red, ~listed(col(ListingReplica.black_listing_id).is_not(None)))
    return flag if awaiting is None else and_(awaiting, flag)


def fast_track_first(flag: ColumnElement[bool]) -> ColumnElement[int]:
    """The first ordering key of a review queue: fast-tracked rows (0) before the rest (1)."""
    return case((flag, 0), else_=1)
