"""A background loop owned by a service's lifespan: started once, cancelled and awaited at shutdown."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod


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
