"""Red/black list commands: proposal with notice, listing after the notice period, objections, credit repair
and expiry. Each runs in its caller's unit of work; every step is an event, and every change of a subject's
listing also publishes `listing.current` (the replicas' feed and the compacted topic's value).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select

from credit import contracts as ev
from credit.domain.listings import (
    ACTIVE,
    ListingState,
    duration,
    ensure_may_object,
    ensure_may_repair,
    ensure_pending,
    overdue,
    published,
)
from credit.domain.policy import CreditPolicy
from credit.domain.scoring import SubjectState, matching_rules, reasons_for
from credit.models import CreditListing, CreditObjection, CreditRepair
from shared.envelope import EventData
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork
from shared.workdays import WorkingCalendar, load_working_calendar

ACTOR = "service:credit"
RIGHTS = ("You may object (异议) within the notice period or while listed; feedback is due within {days} working "
          "days. A black-list entry may be repaired (信用修复, free of charge) after its minimum period with a "
          "credit commitment; the decision is due within {repair} working days.")


def objection_path(listing_id: str) -> str:
    """Where the subject objects: a path on the credit service (through the gateway: /credit prefix)."""
    return f"/listings/{listing_id}/objections"


@dataclass
class Proposals:
    """What proposing needs across one transaction, loaded once: the lists each subject already has an entry in
    force on, and the working calendar. Only proposals add entries inside a consumer's transaction, so it stays
    true there."""

    active: dict[str, set[str]] = field(default_factory=dict)
    calendar: WorkingCalendar | None = None

    async def preload(self, uow: UnitOfWork, subject_ids: Iterable[str]) -> None:
        wanted = [s for s in dict.fromkeys(subject_ids) if s not in self.active]
        if not wanted:
            return
        for subject_id in wanted:
            self.active[subject_id] = set()
        rows = await uow.session.execute(select(CreditListing.subject_id, CreditListing.list_kind).where(
            col(CreditListing.subject_id).in_(wanted), col(CreditListing.state).in_(ACTIVE)))
        for subject_id, list_kind in rows:
            self.active[subject_id].add(list_kind)

    async def lists_of(self, uow: UnitOfWork, subject_id: str) -> set[str]:
        kinds = self.active.get(subject_id)
        if kinds is None:
            kinds = self.active[subject_id] = set((await uow.session.execute(
                select(CreditListing.list_kind).where(CreditListing.subject_id == subject_id,
                                                      col(CreditListing.state).in_(ACTIVE)))).scalars())
        return kinds

    async def working_calendar(self, uow: UnitOfWork) -> WorkingCalendar:
        if self.calendar is None:
            self.calendar = await load_working_calendar(uow.session)
        return self.calendar


async def propose(uow: UnitOfWork, state: SubjectState, now: datetime, policy: CreditPolicy,
                  known: Proposals | None = None) -> list[CreditListing]:
    """Notify the subject of every rule it now meets, unless an entry of that list is already in force. `now` is
    the service clock's; the notice period ends with its last working day (holiday calendar, 调休 included)."""
    made = []
    known = known or Proposals()
    for rule in matching_rules(state, policy):
        on = await known.lists_of(uow, state.subject_id)
        if rule.list_kind in on:
            continue
        on.add(rule.list_kind)
        reasons, causes = reasons_for(state, rule)
        calendar = await known.working_calendar(uow)
        listing = CreditListing(
            id=new_id(), subject_id=state.subject_id, list_kind=rule.list_kind, tier=rule.tier,
            state=ListingState.NOTIFIED.value, rule=rule.name, reasons=json.dumps(reasons, ensure_ascii=False),
            basis=rule.basis, cause_event_ids=json.dumps(causes), policy_version=policy.version, notified_at=now,
            notice_ends_at=calendar.add_working_days(now, policy.notice_working_days))
        uow.session.add(listing)
        uow.publish(ev.ListingNotified(
            listing_id=listing.id, subject_id=listing.subject_id, list_kind=listing.list_kind, tier=listing.tier,
            rule=rule.name, reasons=reasons, basis=rule.basis,
            rights=RIGHTS.format(days=policy.objection_working_days, repair=policy.repair_decision_working_days),
            objection_url=objection_path(listing.id), notice_ends_at=listing.notice_ends_at,
            cause_event_ids=causes, policy_version=policy.version), subject=listing.id, actor=ACTOR,
            partition_key=listing.subject_id)
        made.append(listing)
    return made


async def list_after_notice(uow: UnitOfWork, listing: CreditListing, now: datetime, policy: CreditPolicy) -> None:
    listing.state, listing.listed_at = ListingState.LISTED.value, now
    listing.publish_until = now + duration(listing.list_kind, listing.tier, policy)
    uow.publish(ev.ListingListed(listing_id=listing.id, subject_id=listing.subject_id, list_kind=listing.list_kind,
                                 tier=listing.tier, listed_at=now, publish_until=listing.publish_until,
                                 published=published(listing.list_kind, listing.tier, policy),
                                 policy_version=listing.policy_version),
                subject=listing.id, actor=ACTOR, partition_key=listing.subject_id)
    await publish_current(uow, listing.subject_id, policy)


async def end(uow: UnitOfWork, listing: CreditListing, reason: str, by: str | None, now: datetime,
              policy: CreditPolicy) -> None:
    """The compensating step: the entry leaves the lists, its row and history stay."""
    was = listing.state
    listing.state = ListingState.REMOVED.value if was == ListingState.LISTED.value else ListingState.WITHDRAWN.value
    listing.ended_at, listing.end_reason = now, reason
    uow.publish(ev.ListingRemoved(listing_id=listing.id, subject_id=listing.subject_id, list_kind=listing.list_kind,
                                  tier=listing.tier, from_state=was, reason=reason, decided_by=by,
                                  policy_version=listing.policy_version),
                subject=listing.id, actor=by or ACTOR, partition_key=listing.subject_id)
    await publish_current(uow, listing.subject_id, policy)


async def publish_current(uow: UnitOfWork, subject_id: str, policy: CreditPolicy) -> None:
    await uow.session.flush()
    rows = (await uow.session.execute(select(CreditListing).where(
        CreditListing.subject_id == subject_id, CreditListing.state == ListingState.LISTED.value))).scalars().all()
    current = {row.list_kind: row for row in rows}

    def summary(kind: str) -> ev.ListingSummary | None:
        row = current.get(kind)
        if row is None or row.listed_at is None or row.publish_until is None:
            return None
        return ev.ListingSummary(listing_id=row.id, tier=row.tier, rule=row.rule, basis=row.basis,
                                 listed_at=row.listed_at, until=row.publish_until)

    black, red = summary("black"), summary("red")
    uow.publish(ev.ListingCurrent(
        subject_id=subject_id, black=black, red=red,
        objection_url=objection_path(black.listing_id) if black else "",
        fast_track_review=red is not None and policy.red_fast_track_review,
        commission_relief_percent=policy.red_commission_relief_percent if red is not None else 0,
        policy_version=policy.version), subject=subject_id, actor=ACTOR)


async def listing_for(uow: UnitOfWork, listing_id: str) -> CreditListing:
    listing = await uow.session.get(CreditListing, listing_id)
    if listing is None:
        raise DomainError(404, f"no listing {listing_id}", field="listing_id")
    return listing


async def _pending(uow: UnitOfWork, model: type[CreditObjection] | type[CreditRepair], listing_id: str) -> bool:
    return (await uow.session.execute(select(model.id).where(
        model.listing_id == listing_id, model.state == "pending"))).first() is not None


async def _decide(uow: UnitOfWork, row: CreditObjection | CreditRepair, what: str, outcome: str, reviewer: str,
                  note: str, now: datetime, event: EventData, end_reason: str | None, ends_from: tuple[str, ...],
                  policy: CreditPolicy) -> None:
    """A reviewer's decision; a favourable one ends the listing with its compensating event. A decision after the
    deadline is taken all the same, recorded as late (and announced overdue first if the job had not yet)."""
    ensure_pending(what, row.state)
    await mark_overdue(uow, row, now)
    row.state, row.decided_by, row.decided_at, row.note = outcome, reviewer, now, note
    row.decided_late = overdue(due_of(row), now)
    uow.publish(event, subject=row.id, actor=reviewer, partition_key=row.subject_id)
    listing = await listing_for(uow, row.listing_id)
    if end_reason is not None and listing.state in ends_from:
        await end(uow, listing, end_reason, reviewer, now, policy)


async def file_objection(uow: UnitOfWork, listing: CreditListing, grounds: str, now: datetime,
                         policy: CreditPolicy) -> CreditObjection:
    ensure_may_object(listing.state, await _pending(uow, CreditObjection, listing.id))
    calendar = await load_working_calendar(uow.session)
    due = calendar.add_working_days(now, policy.objection_working_days)
    objection = CreditObjection(id=new_id(), listing_id=listing.id, subject_id=listing.subject_id, grounds=grounds,
                                filed_at=now, feedback_due=due, state="pending")
    uow.session.add(objection)
    uow.publish(ev.ObjectionFiled(objection_id=objection.id, listing_id=listing.id, subject_id=listing.subject_id,
                                  feedback_due=objection.feedback_due),
                subject=objection.id, actor=listing.subject_id, partition_key=listing.subject_id)
    return objection


async def decide_objection(uow: UnitOfWork, objection: CreditObjection, upheld: bool, reviewer: str, note: str,
                           now: datetime, policy: CreditPolicy) -> CreditObjection:
    event = ev.ObjectionDecided(objection_id=objection.id, listing_id=objection.listing_id,
                                subject_id=objection.subject_id, upheld=upheld, reviewer_id=reviewer, note=note)
    await _decide(uow, objection, "objection", "upheld" if upheld else "dismissed", reviewer, note, now, event,
                  "objection_upheld" if upheld else None, ACTIVE, policy)
    return objection


async def request_repair(uow: UnitOfWork, listing: CreditListing, commitment: str, correction: str, now: datetime,
                         policy: CreditPolicy) -> CreditRepair:
    ensure_may_repair(listing.state, listing.list_kind, listing.tier, listing.listed_at, now, policy,
                      await _pending(uow, CreditRepair, listing.id))
    calendar = await load_working_calendar(uow.session)
    repair = CreditRepair(id=new_id(), listing_id=listing.id, subject_id=listing.subject_id, commitment=commitment,
                          correction=correction, requested_at=now, state="pending",
                          decide_by=calendar.add_working_days(now, policy.repair_decision_working_days))
    uow.session.add(repair)
    uow.publish(ev.RepairRequested(repair_id=repair.id, listing_id=listing.id, subject_id=listing.subject_id,
                                   decide_by=repair.decide_by),
                subject=repair.id, actor=listing.subject_id, partition_key=listing.subject_id)
    return repair


async def decide_repair(uow: UnitOfWork, repair: CreditRepair, approved: bool, reviewer: str, note: str,
                        now: datetime, policy: CreditPolicy) -> CreditRepair:
    event = ev.RepairDecided(repair_id=repair.id, listing_id=repair.listing_id, subject_id=repair.subject_id,
                             approved=approved, reviewer_id=reviewer, note=note)
    await _decide(uow, repair, "repair request", "approved" if approved else "refused", reviewer, note, now, event,
                  "repaired" if approved else None, (ListingState.LISTED.value,), policy)
    return repair


def due_of(row: CreditObjection | CreditRepair) -> datetime:
    """The working-day deadline stored when it was filed: feedback on an objection, a decision on a repair."""
    return row.feedback_due if isinstance(row, CreditObjection) else row.decide_by


def _overdue_event(row: CreditObjection | CreditRepair, now: datetime) -> EventData:
    if isinstance(row, CreditObjection):
        return ev.ObjectionOverdue(objection_id=row.id, listing_id=row.listing_id, subject_id=row.subject_id,
                                   filed_at=row.filed_at, feedback_due=row.feedback_due, overdue_at=now)
    return ev.RepairOverdue(repair_id=row.id, listing_id=row.listing_id, subject_id=row.subject_id,
                            requested_at=row.requested_at, decide_by=row.decide_by, overdue_at=now)


async def mark_overdue(uow: UnitOfWork, row: CreditObjection | CreditRepair, now: datetime) -> bool:
    """Mark a pending objection or repair request past its deadline as overdue and announce it, once: the
    conditional UPDATE lets one writer win (a job run, another replica's run, a late decision) and the others
    find it marked, so a rerun or a restart never announces it twice."""
    if row.state != "pending" or row.overdue_at is not None or not overdue(due_of(row), now):
        return False
    model = type(row)
    marked = await uow.session.execute(
        update(model).where(col(model.id) == row.id, col(model.state) == "pending", col(model.overdue_at).is_(None))
        .values(overdue_at=now).execution_options(synchronize_session=False))
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        return False
    set_committed_value(row, "overdue_at", now)
    uow.publish(_overdue_event(row, now), subject=row.id, actor=ACTOR, partition_key=row.subject_id)
    return True
