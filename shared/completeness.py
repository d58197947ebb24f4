"""Completeness per source: find gaps in `sequence` and backfill them from the source's replay feed.

The dev broker keeps nothing across a restart, so Kafka alone cannot promise "nothing lost". A gap
(a higher sequence seen while a lower one is missing) that outlasts a short grace period, or the
periodic reconcile, makes the consumer read `GET /events?after=<contiguous mark>` from the source
and apply what it missed through the same inbox, so nothing is applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

import httpx

from shared.consumer import TRANSIENT_ERRORS, EventApplier
from shared.envelope import CloudEvent, source_for
from shared.inbox import progress_of
from shared.worker import BackgroundWorker

log = logging.getLogger(__name__)
FEED_PAGE = 500


class CompletenessMonitor(BackgroundWorker):
    def __init__(self, applier: EventApplier, *, feed_urls: dict[str, str], token: Callable[[], str],
                 grace_seconds: float, reconcile_seconds: float, max_attempts: int,
                 dead_letter: Callable[[CloudEvent, BaseException, int], Awaitable[None]],
                 client: httpx.AsyncClient | None = None) -> None:
        """`client`: the caller's HTTP client, for `backfill` without the background loop (a rebuild from the
        feeds); by default `start` makes one and `stop` closes it."""
        self._applier = applier
        self._feed_urls = feed_urls
        self._token = token
        self._grace = grace_seconds
        self._reconcile = reconcile_seconds
        self._max_attempts = max_attempts
        self._dead_letter = dead_letter
        self._gap_noticed: dict[str, float] = {}
        self._last_reconcile: dict[str, float] = {}
        self._failures: defaultdict[str, int] = defaultdict(int)
        self._client = client
        self._owns_client = client is None
        self.backfilled = 0
        self.reconciled: set[str] = set()  # sources whose feed has been read through at least once

    @property
    def worker_name(self) -> str:
        return f"completeness:{self._applier.consumer}"

    def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0))
        super().start()

    async def _cleanup(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        tick = max(0.1, min(self._grace, self._reconcile) / 2)
        while True:
            await asyncio.sleep(tick)
            for service in self._applier.subscriptions.sources:
                try:
                    if self._due(service, await self._has_gap(service)):
                        await self.backfill(service)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.info("backfill postponed", extra={"source": service, "error": repr(exc)})

    async def _has_gap(self, service: str) -> bool:
        async with self._applier.db.reading() as session:
            progress = (await progress_of(session, self._applier.consumer)).get(source_for(service))
        return progress is not None and progress.highest_seen > progress.contiguous_through

    def _due(self, service: str, gap: bool) -> bool:
        now = time.monotonic()
        if gap:
            noticed = self._gap_noticed.setdefault(service, now)
            if now - noticed >= self._grace:
                return True
        else:
            self._gap_noticed.pop(service, None)
        last = self._last_reconcile.get(service)
        return last is None or now - last >= self._reconcile  # the first reconcile runs at start

    async def backfill(self, service: str) -> int:
        """Read the source's feed from the contiguous mark and apply what is missing; returns count."""
        assert self._client is not None, "start() first, or pass a client"
        self._last_reconcile[service] = time.monotonic()
        self._gap_noticed.pop(service, None)
        async with self._applier.db.reading() as session:
            progress = (await progress_of(session, self._applier.consumer)).get(source_for(service))
        after = progress.contiguous_through if progress else 0
        applied = 0
        while True:
            response = await self._client.get(
                f"{self._feed_urls[service]}/events", params={"after": after, "limit": FEED_PAGE},
                headers={"Authorization": f"Bearer {self._token()}"},
            )
            response.raise_for_status()
            items = response.json()["events"]
            applied += await self._apply_page(items)
            if items:
                after = int(items[-1]["sequence"])
            if len(items) < FEED_PAGE:
                break
        self.reconciled.add(service)
        if applied:
            self.backfilled += applied
            log.info("backfilled from feed", extra={"source": service, "applied": applied})
        return applied

    async def _apply_page(self, items: list[dict[str, object]]) -> int:
        """A page in one transaction; if anything in it fails, item by item."""
        try:
            return sum(await self._applier.apply_batch([CloudEvent.model_validate(item) for item in items]))
        except TRANSIENT_ERRORS:
            raise
        except Exception:
            applied = 0
            for item in items:
                applied += await self._apply(item)
            return applied

    async def _apply(self, item: dict[str, object]) -> int:
        """Apply one feed item; one that keeps failing is dead-lettered like a Kafka one, then skipped."""
        event = CloudEvent.model_validate(item)  # the source's own outbox: a bad item is the source's bug
        try:
            return int(await self._applier.apply(event))
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            self._failures[event.id] += 1
            if self._failures[event.id] < self._max_attempts:
                raise
            await self._dead_letter(event, exc, self._failures.pop(event.id))
            await self._applier.mark_dead_lettered(event)
            return 0
