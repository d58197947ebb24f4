"""Periodic jobs inside a service (auto-accept, settlement, expiry): each run is its own transaction(s).

Jobs must be idempotent (they decide from stored state and the clock), so running a tick twice, or on
two replicas, changes nothing the second time; a failing job is logged and retried at the next tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.worker import BackgroundWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], Awaitable[int]]  # returns how many things it acted on, for the log and the tests
    every_seconds: float


class Scheduler(BackgroundWorker):
    def __init__(self, jobs: list[Job]) -> None:
        self._jobs = jobs
        self.runs: dict[str, int] = {job.name: 0 for job in jobs}

    @property
    def worker_name(self) -> str:
        return "scheduler"

    async def run_now(self, name: str) -> int:
        """Run one job at once (an operator's or a test's nudge after moving the clock)."""
        job = next(job for job in self._jobs if job.name == name)
        return await self._run_job(job)

    async def _run_job(self, job: Job) -> int:
        acted = await job.run()
        self.runs[job.name] += 1
        if acted:
            log.info("scheduled job acted", extra={"job": job.name, "acted": acted})
        return acted

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = {job.name: loop.time() + job.every_seconds for job in self._jobs}
        while True:
            now = loop.time()
            for job in self._jobs:
                if now >= due[job.name]:
                    due[job.name] = now + job.every_seconds
                    try:
                        await self._run_job(job)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("scheduled job failed; retrying next tick", extra={"job": job.name})
            await asyncio.sleep(max(0.05, min(due.values()) - loop.time()))
