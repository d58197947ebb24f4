"""Event -> credit fact: the one table, by event type, of what each crowd's events mean for credit. Pure.

A fact names its subject, its kind (the policy gives the kind a dimension and points) and `ref`, what it is
about (a dispute, a task milestone, a campaign), so that a warning and an escalation about the same late
milestone count as one missed delivery in the listing rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crowdfunding import contracts as cf
from crowdsourcing import contracts as cs
from crowdsupport.contracts import BookingNoShowRecorded, VoucherVoided
from makerspace import contracts as ms

from shared.envelope import EventData


@dataclass(frozen=True)
class Fact:
    subject_id: str
    kind: str
    ref: str
    event_id: str
    at: datetime  # the causing event's time: decay is measured from event time, never the wall clock


Found = list[tuple[str, str, str]]  # (subject, kind, ref)
Extract = Callable[[Any], Found]


def _accepted(d: cs.SubmissionAccepted) -> Found:
    found = [(d.solver_id, "work_accepted", d.submission_id)]
    return found if d.on_time else [*found, (d.solver_id, "late_delivery", d.submission_id)]


def _dispute(d: cs.DisputeResolved) -> Found:
    if d.lost_by is None:
        return []
    loser, winner = (d.solver_id, d.poster_id) if d.lost_by == "solver" else (d.poster_id, d.solver_id)
    return [(loser, "dispute_lost", d.dispute_id), (winner, "dispute_won", d.dispute_id)]


def _instrument_no_show(d: BookingNoShowRecorded) -> Found:
    """Only an instrument no-show counts against the member. A mentor session is checked in by the mentor alone,
    so a missing check-in there may be the mentor's absence, and scoring it would blame the start-up for it."""
    return [(d.member_id, "no_show", d.booking_id)] if d.kind == "instrument" else []


def _voided(d: VoucherVoided) -> Found:
    return [(who, "voucher_fraud", d.voucher_id) for who in d.fraud_by] if d.fraud else []


FACT_TABLE: dict[type[EventData], Extract] = {
    cs.SubmissionAccepted: _accepted,
    cs.DisputeResolved: _dispute,
    cs.AbandonmentWarned: lambda d: [(d.solver_id, "missed_delivery", f"{d.task_id}:{d.milestone_id}")],
    cs.AbandonmentEscalated: lambda d: [(d.solver_id, "delivery_escalated", f"{d.task_id}:{d.milestone_id}")],
    cf.CampaignSucceeded: lambda d: [(d.founder_id, "campaign_successful", d.campaign_id)],
    cf.CampaignFulfilled: lambda d: [(d.founder_id, "campaign_fulfilled", d.campaign_id)],
    cf.DeliveryMissed: lambda d: [(d.founder_id, "missed_delivery", d.campaign_id)],
    ms.NoShowRecorded: lambda d: [(d.member_id, "no_show", d.booking_id)],
    BookingNoShowRecorded: _instrument_no_show,
    VoucherVoided: _voided,
}
BY_TYPE: dict[str, tuple[type[EventData], Extract]] = {m.event_type: (m, f) for m, f in FACT_TABLE.items()}


def facts_of(event_type: str, event_id: str, at: datetime, data: dict[str, Any]) -> list[Fact]:
    """The credit facts one event carries (none for a type credit does not score)."""
    entry = BY_TYPE.get(event_type)
    if entry is None:
        return []
    model, extract = entry
    return [Fact(subject, kind, ref, event_id, at) for subject, kind, ref in extract(model.model_validate(data))]
