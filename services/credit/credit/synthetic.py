"""A generated, reproducible history of crowd events for the rebuild proof and the bench (seeded, no I/O).

Events come from the four crowds' own contracts, with per-source gapless sequences and times spread over
three years, so decay bands and the policy horizon are exercised.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from crowdfunding import contracts as cf
from crowdsourcing import contracts as cs
from crowdsupport.contracts import VoucherVoided
from makerspace import contracts as ms

from shared.envelope import CloudEvent, EventData

START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_DAYS = 3 * 365


def _source_of(model: type[EventData]) -> str:
    return model.event_type.split(".")[2]


def history(count: int, subjects: int = 400, seed: int = 7, named: Sequence[str] = ()) -> list[CloudEvent]:
    """`count` events in time order over `subjects` subjects (the first ones named by `named`, e.g. people
    registered at the gateway; the rest `subject-NNNNN`)."""
    rnd = random.Random(seed)
    people = [*named, *(f"subject-{n:05d}" for n in range(len(named), subjects))]
    sequences: dict[str, int] = {}
    times = sorted(START + timedelta(seconds=rnd.randrange(SPAN_DAYS * 86400)) for _ in range(count))

    def who() -> str:
        return rnd.choice(people)

    def ident(prefix: str) -> str:
        return f"{prefix}-{rnd.randrange(10**9):09d}"

    makers: list[Callable[[], EventData]] = [
        lambda: cs.SubmissionAccepted(submission_id=ident("sub"), task_id=ident("task"), milestone_id=ident("m"),
                                      solver_id=who(), poster_id=who(), on_time=rnd.random() < 0.8,
                                      automatically=False, policy_version="p"),
        lambda: cs.DisputeResolved(dispute_id=ident("d"), task_id=ident("task"), milestone_id=ident("m"),
                                   poster_id=who(), solver_id=who(), stage="resolved", resolved_by="m",
                                   solver_share_percent=30, solver_gross_fen=0, solver_net_fen=0, commission_fen=0,
                                   poster_fen=0, lost_by=rnd.choice(["solver", "poster", None]),
                                   policy_version="p"),
        lambda: cs.AbandonmentWarned(task_id=ident("task"), milestone_id="m", solver_id=who(), due_at=START),
        lambda: cs.AbandonmentEscalated(task_id=ident("task"), milestone_id="m", solver_id=who(), due_at=START,
                                        warned_at=START),
        lambda: cf.CampaignSucceeded(campaign_id=ident("c"), founder_id=who(), kind="reward",
                                     funding_mode="all_or_nothing", from_state="live", to_state="successful",
                                     why="goal", policy_version="p"),
        lambda: cf.CampaignFulfilled(campaign_id=ident("c"), founder_id=who(), kind="reward",
                                     funding_mode="all_or_nothing", from_state="fulfilling", to_state="fulfilled",
                                     why="delivered", policy_version="p"),
        lambda: cf.DeliveryMissed(campaign_id=ident("c"), founder_id=who(), delivery_due=START, held_fen=0),
        lambda: ms.NoShowRecorded(booking_id=ident("b"), resource_id="r", space_id="s", member_id=who(),
                                  start=START, end=START, state="no_show", policy_version="p", penalty_points=1),
        lambda: VoucherVoided(voucher_id=ident("v"), programme_id="p", agency_id="a", enterprise_id=who(),
                              provider_id=who(), reason="fraud", fraud=rnd.random() < 0.3, fraud_by=[who()],
                              clawed_back_fen=0, currency="CNY"),
    ]
    weights = [40, 12, 6, 3, 10, 8, 4, 12, 5]
    events = []
    for n, at in enumerate(times):
        data = rnd.choices(makers, weights)[0]()
        source = _source_of(type(data))
        sequences[source] = sequences.get(source, 0) + 1
        events.append(CloudEvent(id=f"ev-{seed}-{n:07d}", source=f"/sizhong/{source}", type=data.event_type,
                                 time=at, subject="s", data=data.model_dump(mode="json"),
                                 sequence=sequences[source], partitionkey="k", actor="test"))
    return events
