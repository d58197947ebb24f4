"""The adjustable clock only moves forward; scheduled jobs run, survive failures and can be nudged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from shared.clock import AdjustableClock, SystemClock
from shared.scheduler import Job, Scheduler


def test_the_adjustable_clock_moves_forward_only() -> None:
    clock = AdjustableClock()
    before = SystemClock().now()
    moved = clock.advance(timedelta(days=15))
    assert moved - before >= timedelta(days=15)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(seconds=-1))


async def test_jobs_run_periodically_and_a_failure_does_not_stop_them() -> None:
    calls = {"ok": 0, "boom": 0}

    async def ok() -> int:
        calls["ok"] += 1
        return 1

    async def boom() -> int:
        calls["boom"] += 1
        raise RuntimeError("transient")

    scheduler = Scheduler([Job("ok", ok, 0.05), Job("boom", boom, 0.05)])
    scheduler.start()
    await asyncio.sleep(0.4)
    await scheduler.stop()
    assert calls["ok"] >= 3 and calls["boom"] >= 3
    assert await scheduler.run_now("ok") == 1
