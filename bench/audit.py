"""The audit rows of `make bench`: log append throughput with hashing, and offline verification of a
1,000,000-entry export. `python -m bench.audit` runs just these two rows.

Append: the audit service's own append path (audit.handlers.append_to_log: canonical JSON of the envelope, its
RFC 6962 leaf hash, the row) on a SQLite (WAL) database migrated with audit's migrations, batched as the consumer
applies a fetch: one UnitOfWork per 500 events (aiokafka's max_poll_records), committed. Timed from the first
transaction to the last commit. Target: at least 20,000 events/s. A note gives the same events through the whole
EventApplier (inbox rows and source progress added), which is what the consumer runs.

Verify: an export of 1,000,000 ~600-byte entries with a signed checkpoint every 10,000 (100 checkpoints, one per
10 s at 1,000 events/s) is written to a temporary directory (not timed), then `python -m audit.verify` checks it
as a regulator would, in its own process: timed from start to exit. Target: at most 10 s.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import audit
from audit.consumers import SUBSCRIPTIONS
from audit.domain.checkpoint import CheckpointSigner
from audit.domain.export import write_export
from audit.handlers import append_to_log, canonical_entry

from bench.events import PADDING, LoadGenerated
from shared.consumer import EventApplier
from shared.db import Database
from shared.envelope import CloudEvent, source_for
from shared.ids import new_id, utcnow
from shared.migrations import upgrade_to_head
from shared.tracing import new_traceparent
from shared.uow import UnitOfWork

APPEND_TARGET = 20_000.0  # events/s
VERIFY_TARGET = 10.0  # seconds for VERIFY_ENTRIES
VERIFY_ENTRIES = 1_000_000
CHECKPOINT_EVERY = 10_000
FETCH = 500
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measured:
    events: int
    seconds: float
    target: str
    passed: bool
    notes: list[str]

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def envelope(n: int, service: str = "crowdfunding") -> CloudEvent:
    return CloudEvent(id=new_id(), source=source_for(service), type=LoadGenerated.event_type, time=utcnow(),
                      subject=f"load-{n}", data=LoadGenerated(n=n, padding=PADDING).model_dump(mode="json"),
                      sequence=n + 1, partitionkey=f"load-{n}", actor="bench", traceparent=new_traceparent())


async def _append(path: Path, events: list[CloudEvent], through_applier: bool) -> float:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade_to_head(db, str(Path(audit.__file__).parent / "migrations"))
        applier = EventApplier(db, "audit", "audit", SUBSCRIPTIONS)
        started = time.perf_counter()
        for at in range(0, len(events), FETCH):
            batch = events[at:at + FETCH]
            if through_applier:
                await applier.apply_batch(batch)
                continue
            async with UnitOfWork(db, "audit") as uow:
                for event in batch:
                    await append_to_log(uow, event)
                await uow.commit()
        return time.perf_counter() - started
    finally:
        await db.dispose()


def counted_envelope(n: int) -> CloudEvent:
    """An event the statistics count (a paid pledge): the append also upserts its day/region row."""
    data = {"pledge_id": f"p-{n}", "campaign_id": f"c-{n % 100}", "backer_id": f"b-{n}", "currency": "CNY",
            "amount_fen": 10_000, "payment_reference": f"ref-{n}", "ledger_transaction": f"lt-{n}"}
    return CloudEvent(id=new_id(), source=source_for("crowdfunding"), type="cn.sizhong.crowdfunding.pledge.paid.v1",
                      time=utcnow(), subject=f"c-{n % 100}", data=data, sequence=n + 1, partitionkey=f"b-{n}",
                      actor="bench", traceparent=new_traceparent())


async def measure_append(workdir: Path, total: int) -> Measured:
    events = [envelope(n) for n in range(total)]
    size = len(canonical_entry(events[0]).encode())
    seconds = await _append(workdir / "audit-append.db", events, through_applier=False)
    counted = [counted_envelope(n) for n in range(min(total, 20_000))]
    counted_seconds = await _append(workdir / "audit-counted.db", counted, through_applier=False)
    applier_events = [envelope(n, "crowdsourcing") for n in range(min(total, 20_000))]
    applier_seconds = await _append(workdir / "audit-applier.db", applier_events, through_applier=True)
    rate = total / seconds
    notes = [f"{FETCH} events per transaction (one fetch), ~{size}-byte canonical entries, SQLite (WAL); "
             f"append path as production runs it (audit.handlers.append_to_log): canonical JSON + leaf hash + row, "
             f"indexes counted in the transaction, and the statistics/supervision dispatch (these load events are "
             f"of a type no statistic counts; the regulator stream is published from the log table afterwards, "
             f"off this path)",
             f"events a statistic counts (paid pledges: regions looked up and day/region rows upserted once per "
             f"transaction) did "
             f"{len(counted) / counted_seconds:,.0f} events/s over {len(counted):,} events (informational)",
             f"the whole consumer transaction (EventApplier: inbox rows, source progress, then the append) did "
             f"{len(applier_events) / applier_seconds:,.0f} events/s over {len(applier_events):,} events "
             f"(informational)"]
    return Measured(total, seconds, f">= {APPEND_TARGET:,.0f}/s", rate >= APPEND_TARGET, notes)


def measure_verify(workdir: Path, total: int = VERIFY_ENTRIES) -> Measured:
    signer = CheckpointSigner(CheckpointSigner.generate_seed())
    template = canonical_entry(envelope(0)).replace('"load-0"', '"load-{n}"')
    prefix, _, suffix = template.partition("load-{n}")
    prefix2, _, suffix2 = suffix.partition("load-{n}")
    event_id = json.loads(template)["id"]
    path = workdir / "audit-export.jsonl"
    generated = time.perf_counter()
    sizes = range(CHECKPOINT_EVERY, total + 1, CHECKPOINT_EVERY)

    def entries() -> list[str]:
        # distinct entries, shaped as the service stores them (ids and subjects vary)
        return [f"{prefix}load-{n}{prefix2}load-{n}{suffix2}".replace(event_id, f"{n:08d}{event_id[8:]}")
                for n in range(total)]

    with path.open("w", encoding="utf-8") as handle:
        lines = write_export(entries(), signer, sizes, datetime(2026, 3, 2, tzinfo=UTC))
        while chunk := "".join(line for _, line in zip(range(10_000), lines, strict=False)):
            handle.write(chunk)
    generated = time.perf_counter() - generated
    megabytes = path.stat().st_size / 1e6
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "audit.verify", str(path), "--public-key",
                           base64.b64encode(signer.public_key).decode()], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    seconds = time.perf_counter() - started
    ok = done.returncode == 0 and done.stdout.startswith(f"OK {total} entries")
    notes = [f"export of {megabytes:,.0f} MB, {len(sizes)} checkpoints (written in {generated:.1f}s, not timed); "
             f"`python -m audit.verify` in its own process, start to exit: recomputes every leaf hash, every "
             f"checkpoint's root, signature and consistency proof"]
    if not ok:
        notes.append(f"the verifier did not accept it (exit {done.returncode}): {done.stdout.strip()[:300]} "
                     f"{done.stderr.strip()[:300]}")
    return Measured(total, seconds, f"<= {VERIFY_TARGET:.0f} s", ok and seconds <= VERIFY_TARGET, notes)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sizhong-bench-audit-") as tmp:
        append = asyncio.run(measure_append(Path(tmp), 100_000))
        verify = measure_verify(Path(tmp))
    for name, row in (("audit append with hashing", append), ("offline verify of 1,000,000 entries", verify)):
        print(f"{name}: {row.events:,} events in {row.seconds:.2f}s = {row.per_s:,.0f}/s; target {row.target}: "
              f"{'PASS' if row.passed else 'FAIL'}")
        for note in row.notes:
            print(f"  {note}")
    return 0 if append.passed and verify.passed else 1


if __name__ == "__main__":
    sys.exit(main())
