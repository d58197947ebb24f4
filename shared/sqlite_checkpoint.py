"""WAL checkpoints of the embedded SQLite database on a helper thread instead of inside a command's commit.

With SQLite's automatic checkpoint, the commit that takes the write-ahead log past 1,000 pages copies them
into the database file and syncs it, on the event loop: a pledge's commit took 0.1 ms, and every sixtieth took
5–40 ms, a quarter of the write path's average time and all of its tail. Here the loop's write connection
checkpoints automatically only past `FALLBACK_PAGES` (a bound if the helper falls behind), and every
`EVERY_WRITES` write transactions a passive checkpoint runs on a thread of its own connection: it copies what
no reader still needs and never blocks the writer, while the loop goes on. sqlite3 releases the GIL while
SQLite works, so the copying and syncing overlap the loop's own work.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import Future

FALLBACK_PAGES = 10_000  # the write connection's own wal_autocheckpoint (about 40 MiB of log)
EVERY_WRITES = 100


class WalCheckpointer:
    """Counts a process's write transactions on one database file and checkpoints it off the loop."""

    def __init__(self, path: str, every_writes: int = EVERY_WRITES) -> None:
        self._path = path
        self._every = every_writes
        self._writes = 0
        self._connection: sqlite3.Connection | None = None
        self._running: asyncio.Future[tuple[int, int, int]] | None = None
        self.completed = 0  # checkpoints run, for tests and diagnostics

    def after_write(self) -> None:
        """Called when a write transaction has ended; starts a checkpoint every `every_writes` of them."""
        self._writes += 1
        if self._writes < self._every or self._running is not None:
            return
        self._writes = 0
        self._running = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
        self._running.add_done_callback(self._finished)

    def _checkpoint(self) -> tuple[int, int, int]:
        if self._connection is None:
            self._connection = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        busy, log, done = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(log), int(done)

    def _finished(self, future: Future[tuple[int, int, int]] | asyncio.Future[tuple[int, int, int]]) -> None:
        self._running = None
        if not future.cancelled() and future.exception() is None:
            self.completed += 1

    async def wait(self) -> None:
        """Until the checkpoint under way, if any, has ended."""
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)

    async def close(self) -> None:
        await self.wait()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
