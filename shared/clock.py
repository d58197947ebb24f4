"""Clocks: the system clock in production, a clock tests can move, chosen by settings at start.

Deadlines (acceptance windows, settlement, expiry) are decided by scheduler jobs that ask the
service's clock, so a test can advance time instead of sleeping.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from shared.ids import utcnow


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class AdjustableClock:
    """The real time plus an offset that only moves forward; for tests and demonstrations only."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, by: timedelta) -> datetime:
        if by < timedelta(0):
            raise ValueError("time only moves forward")
        self.offset += by
        return self.now()
