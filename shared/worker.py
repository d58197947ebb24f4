"""A background loop owned by a service's lifespan: started once, cancelled and awaited at shutdown."""

from __future__ import annotations

import asyncio
import gc
from abc import ABC, abstractmethod


def freeze_startup_heap() -> None:
    """Once a process has started (modules imported, app, engines and clients built), collect once and move
    what survives into the permanent generation. The cyclic collector's full collections then look only at
    objects made since: at thousands of events per second, full collections over the start-up heap took
    about a third of a producing process's CPU. What start-up keeps is kept for the process's life anyway."""
    gc.collect()
    gc.freeze()


class BackgroundWorker(ABC):
    _task: asyncio.Task[None] | None = None

    @property
    @abstractmethod
    def worker_name(self) -> str: ...

    @abstractmethod
    async def _run(self) -> None: ...

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.worker_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._cleanup()

    async def _cleanup(self) -> None:  # noqa: B027 - optional hook, most workers hold nothing
        """Release what the loop held (clients, producers); called after the loop has ended."""
