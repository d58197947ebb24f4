"""How a re-issue request leaves `pending`, shared by the commands that open, decide and expire it: the conditional
UPDATE that decides it once (approved, rejected or expired, even with two deciders at once), and its deadline.

A request not decided within the policy's working days (`reissue_request_working_days`, counted with the holiday
calendar as the refund deadline is) lapses: nothing moves, the payout stays declined and owed, and the owner is told
(`payout.reissue_expired`). The `reissue-expiry` job lapses overdue requests; a command that meets one first (an
approval, a rejection, a re-issue of the same payout) lapses it too, so an overdue request is never approved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, text

from crowdfunding import contracts as ev
from crowdfunding.domain.policy import DEFAULT_POLICY
from crowdfunding.handlers.common import SYSTEM
from crowdfunding.models import ReissueRequest
from shared.db import UTCDateTime
from shared.problems import DomainError
from shared.uow import UnitOfWork
from shared.workdays import load_working_calendar

POLICY = DEFAULT_POLICY
_DECIDE = text("UPDATE payout_reissue_requests SET state = :state, decided_by = :by, decided_at = :at, "
               "decision_note = :note WHERE id = :id AND state = 'pending'"
               ).bindparams(bindparam("at", type_=UTCDateTime()))


async def deadline(uow: UnitOfWork, requested_at: datetime) -> datetime:
    """The end of the policy's last working day for deciding a request made at `requested_at`."""
    calendar = await load_working_calendar(uow.session)
    return calendar.add_working_days(requested_at, POLICY.reissue_request_working_days)


async def decide(uow: UnitOfWork, request: ReissueRequest, state: str, by: str, note: str, now: datetime) -> None:
    """Out of `pending`, once (the request is locked by the caller, under its campaign's lock): else a 409."""
    if request.state != "pending":
        raise DomainError(409, f"the re-issue request is {request.state!r}; it was decided already",
                          current_state=request.state)
    decided = await uow.session.execute(_DECIDE, {"state": state, "by": by, "at": now, "note": note,
                                                  "id": request.id})
    if decided.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(409, "the re-issue request was decided meanwhile", current_state="decided")
    await uow.session.refresh(request)


async def lapse_if_due(uow: UnitOfWork, request: ReissueRequest, now: datetime) -> bool:
    """Expire a pending request (locked by the caller) whose deadline has passed, and tell the owner; True if it
    lapsed now. A request made before requests had deadlines gets its deadline from when it was made."""
    if request.state != "pending":
        return False
    if request.expires_at is None:
        request.expires_at = await deadline(uow, request.requested_at)
        await uow.session.flush()  # written before `decide`'s UPDATE and refresh
    if now <= request.expires_at:
        return False
    days = POLICY.reissue_request_working_days
    await decide(uow, request, "expired", SYSTEM, f"not decided within {days} working days", now)
    uow.publish(ev.PayoutReissueExpired(request_id=request.id, payout_id=request.payout_id,
                                        campaign_id=request.campaign_id, kind=request.kind,
                                        party_id=request.party_id, requested_by=request.requested_by,
                                        requested_at=request.requested_at, expires_at=request.expires_at,
                                        working_days=days, policy_version=POLICY.version),
                subject=request.campaign_id, actor=SYSTEM, partition_key=request.party_id)
    return True
