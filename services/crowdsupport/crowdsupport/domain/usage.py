"""Instrument usage metering and the post-use subsidy (先用后补), pure.

Booked minutes come from the booking; actual minutes from check-in to check-out. The billable time is the
actual time, capped at the booked time (staying longer than booked is not subsidised); the fee is billable
hours at the instrument's hourly rate, rounded half up to the fen; the subsidy is the policy's share of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from shared.money import Money


def minutes_between(start: datetime, end: datetime) -> int:
    """Whole minutes, rounded up (a started minute counts)."""
    seconds = (end - start).total_seconds()
    return max(0, int(-(-seconds // 60)))


@dataclass(frozen=True)
class UsageLine:
    booked_minutes: int
    actual_minutes: int
    hourly_rate_fen: int


@dataclass(frozen=True)
class Subsidy:
    booked_minutes: int
    actual_minutes: int
    billable_minutes: int
    fee_fen: int
    subsidy_fen: int


def subsidy(lines: list[UsageLine], ratio: Fraction) -> Subsidy:
    booked = sum(line.booked_minutes for line in lines)
    actual = sum(line.actual_minutes for line in lines)
    billable = fee = 0
    for line in lines:
        minutes = min(line.actual_minutes, line.booked_minutes)
        billable += minutes
        fee += Money.cny(line.hourly_rate_fen * minutes).share(Fraction(1, 60)).minor
    return Subsidy(booked, actual, billable, fee, Money.cny(fee).share(ratio).minor)
