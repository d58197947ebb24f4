"""Attendance of instrument bookings and mentor sessions: what the bookings sweep does to a booking, and when.
Pure: no I/O, no clock; the caller passes `now`.

DOMAIN.md (众创, reused by 众扶) asks for "check-in and no-show penalty" and "approval where required" but gives no
grace number, so the rule is the booking engine's, as makerspace applies it. The penalty is credit's: it scores
an instrument no-show against the member; a mentor session's is not scored (only the mentor checks in):
- a **confirmed** booking nobody checked in to is a **no-show** once its check-in window has closed, i.e. at
  start + the resource's check-in grace (15 minutes for instruments and mentors). From then on check-in is
  refused by the engine, so the booking can never be used; the rest of the slot is released with it;
- a booking still **pending** the owner's approval when its slot starts was never decided: it **expires** (the
  engine's `cancelled`, decided by the service) and its slot is released. An owner decides before the start
  (`decision_open`), so the sweep and a late decision never race for the same booking.
Every other state (checked in, cancelled, rejected, no-show) is final: the sweep leaves it alone, so a second
run finds nothing to do. A booking the sweep does not track is never judged: one that had started before the sweep
existed (mentor sessions had no check-in then, and nobody was told a missing one would count), recorded by the
migration `support_fixes_unswept` in `cs_unswept_bookings`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from shared.booking.rules import BookingState, ResourceRules, check_in_window


class SweepAction(StrEnum):
    NO_SHOW = "no_show"
    EXPIRE = "expire"


def no_show_due(start: datetime, rules: ResourceRules) -> datetime:
    """When a confirmed booking without a check-in becomes a no-show: its check-in window closes."""
    return check_in_window(start, rules)[1]


def decision_open(start: datetime, now: datetime) -> bool:
    """An owner may approve or reject a pending booking only before its slot starts."""
    return now < start


def sweep_action(state: str, start: datetime, rules: ResourceRules, now: datetime, *,
                 tracked: bool = True) -> SweepAction | None:
    """What the sweep does to a booking in `state` starting at `start`, at `now` (None: nothing, yet or ever);
    an untracked booking (started before the sweep existed) is left alone for good."""
    if not tracked:
        return None
    if state == BookingState.PENDING and not decision_open(start, now):
        return SweepAction.EXPIRE
    if state == BookingState.CONFIRMED and now >= no_show_due(start, rules):
        return SweepAction.NO_SHOW
    return None
