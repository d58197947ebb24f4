"""The bookings sweep's rule (crowdsupport.domain.attendance), pure: each state on both sides of its boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from crowdsupport.domain.attendance import SweepAction, decision_open, no_show_due, sweep_action

from shared.booking.rules import ResourceRules

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
MIN = timedelta(minutes=1)
RULES = ResourceRules(check_in_grace=timedelta(minutes=15))  # what instruments and mentors are given


@pytest.mark.parametrize(("state", "now", "expected"), [
    ("pending", START - MIN, None),  # the owner may still decide
    ("pending", START, SweepAction.EXPIRE),  # the slot started undecided
    ("pending", START + timedelta(days=3), SweepAction.EXPIRE),
    ("confirmed", START, None),
    ("confirmed", START + 15 * MIN - timedelta(seconds=1), None),  # check-in is still open
    ("confirmed", START + 15 * MIN, SweepAction.NO_SHOW),  # the window has closed
    ("confirmed", START + timedelta(hours=5), SweepAction.NO_SHOW),
    ("checked_in", START + timedelta(hours=5), None),
    ("cancelled", START + timedelta(hours=5), None),
    ("rejected", START + timedelta(hours=5), None),
    ("no_show", START + timedelta(hours=5), None),  # swept once only
])
def test_what_the_sweep_does_to_a_booking(state: str, now: datetime, expected: SweepAction | None) -> None:
    assert sweep_action(state, START, RULES, now) is expected


def test_the_no_show_is_due_when_the_resources_own_grace_ends() -> None:
    assert no_show_due(START, RULES) == START + 15 * MIN
    longer = ResourceRules(check_in_grace=timedelta(minutes=40))
    assert no_show_due(START, longer) == START + 40 * MIN
    assert sweep_action("confirmed", START, longer, START + 39 * MIN) is None
    assert sweep_action("confirmed", START, longer, START + 40 * MIN) is SweepAction.NO_SHOW


def test_an_owner_decides_only_before_the_slot_starts_so_the_sweep_and_a_decision_never_overlap() -> None:
    assert decision_open(START, START - MIN)
    assert not decision_open(START, START)
    for now in (START - MIN, START):
        assert decision_open(START, now) != (sweep_action("pending", START, RULES, now) is SweepAction.EXPIRE)


@pytest.mark.parametrize("state", ["pending", "confirmed"])
def test_a_booking_the_sweep_does_not_track_is_never_judged(state: str) -> None:
    """Started before the sweep existed (migration support_fixes_unswept): no expiry, no no-show, however late."""
    for now in (START, START + 15 * MIN, START + timedelta(days=400)):
        assert sweep_action(state, START, RULES, now, tracked=False) is None
    assert sweep_action(state, START, RULES, START + timedelta(days=400)) is not None
