"""`python -m bench`: raw aiokafka vs our pipeline, in one run against one Tansu broker; prints a table.

Scenarios, in order:
  1. raw aiokafka throughput: N keyed ~600-byte events to a 3-partition topic (acks=all, no idempotence),
     consumed by a group consumer with manual offset commits; first send -> last consumed.
  2. pipeline throughput at 1 and 10 events per transaction: UnitOfWork.publish + commit into a SQLite outbox,
     OutboxRelay (woken on commit) to Kafka, KafkaEventConsumer -> EventApplier (no-op handler + inbox row)
     into a second SQLite database; first commit -> last applied.
  3. latency at a steady rate (default 1,000 events/s for 5 s): raw send -> consumed, and pipeline
     commit returned -> applied (after-commit callback); plus, when the pipeline cannot sustain that rate,
     pipeline latency at half its measured 1 event/tx throughput (informational).
Everything runs in this one process (one event loop), the broker in its own. The notes under the table
give CPU per event and how much CPU other processes took meanwhile (a busy machine skews every number).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import credit
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.events import ACTOR, ENVELOPE_BYTES, LoadGenerated, load_event, n_of_key, raw_payload, subject_for
from shared.bus import ensure_topics, event_headers
from shared.consumer import EventApplier, KafkaEventConsumer, Subscription, Subscriptions
from shared.db import Database
from shared.envelope import CloudEvent
from shared.launcher import Broker, free_port
from shared.migrations import upgrade_to_head
from shared.relay import OutboxRelay
from shared.settings import SERVICES, dlq_for, topic_for
from shared.uow import UnitOfWork

PARTITIONS = 3
MIGRATIONS = str(Path(credit.__file__).parent / "migrations")  # has the platform tables (outbox, inbox, ...)
CONSUMER_SERVICE = "audit"
PRODUCERS = tuple(name for name in SERVICES if name != CONSUMER_SERVICE)  # one per pipeline scenario
WARMUP_EVENTS = 20
THROUGHPUT_TARGET = 0.5  # pipeline events/s as a fraction of raw events/s
LATENCY_TARGET_MS = 50.0  # pipeline p99, commit -> applied
RESULTS = Path(__file__).parent / "results" / "latest.json"
# The raw consumer is configured as shared.consumer.KafkaEventConsumer configures its own, so the two
# differ only by what our code does per event.
RAW_CONSUMER_OPTIONS: dict[str, Any] = {
    "enable_auto_commit": False, "auto_offset_reset": "earliest", "metadata_max_age_ms": 3000,
    "max_poll_records": 500, "request_timeout_ms": 10000, "fetch_max_wait_ms": 50, "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000, "rebalance_timeout_ms": 10000, "max_poll_interval_ms": 60000,
}
OTHER_LOAD_WARNING = 0.25  # cores used by other processes, on average, above which the run is flagged

now = time.perf_counter  # CLOCK_MONOTONIC, one clock for every timestamp below


# --------------------------------------------------------------------------------------------- results


@dataclass
class Row:
    scenario: str
    events: int
    seconds: float
    events_per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    vs_raw: str = ""
    target: str = ""
    result: str = ""
    notes: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    def attach_cpu(self, measured: tuple[str, dict[str, float]]) -> None:
        self.notes.append(measured[0])
        self.cpu = measured[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    return values[max(0, math.ceil(q * len(values)) - 1)]


def latency_stats(starts: dict[int, float], ends: dict[int, float]) -> tuple[float, float, float, int]:
    """p50, p99, max in ms over the events that arrived, and how many arrived."""
    values = sorted((ends[n] - starts[n]) * 1000 for n in starts if n in ends)
    if not values:
        return math.nan, math.nan, math.nan, 0
    return percentile(values, 0.50), percentile(values, 0.99), values[-1], len(values)


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def render(rows: list[Row]) -> str:
    header = ["scenario", "events", "seconds", "events/s", "p50 ms", "p99 ms", "max ms", "vs raw", "target",
              "result"]
    body = [[r.scenario, f"{r.events:,}", _fmt(r.seconds, 2), _fmt(r.events_per_s, 0), _fmt(r.p50_ms),
             _fmt(r.p99_ms), _fmt(r.max_ms), r.vs_raw or "-", r.target or "-", r.result or "-"] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = {1, 2, 3, 4, 5, 6}

    def line(cells: list[str]) -> str:
        return " | ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                 strict=True)))

    out = [line(header).rstrip(), "-+-".join("-" * w for w in widths), *(line(cells).rstrip() for cells in body)]
    notes = [f"  [{r.scenario}] {note}" for r in rows for note in r.notes]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------- helpers


class Arrivals:
    """First arrival time per event number (duplicates ignored)."""

    def __init__(self) -> None:
        self.times: dict[int, float] = {}

    def mark(self, n: int) -> None:
        self.times.setdefault(n, now())

    async def wait_for(self, numbers: Iterable[int], timeout: float) -> bool:
        wanted = set(numbers)
        deadline = now() + timeout
        while now() < deadline:
            if wanted.issubset(self.times.keys()):
                return True
            await asyncio.sleep(0.01)
        return wanted.issubset(self.times.keys())


@dataclass(frozen=True)
class CpuMark:
    wall: float
    own: float
    broker: float
    machine: float


class CpuMeter:
    """CPU seconds of this process, of the broker and of the whole machine (Linux /proc; zeros elsewhere).

    What the machine used beyond us and the broker is other load: a busy machine skews every number."""

    def __init__(self, broker_pid: int | None) -> None:
        self.broker_pid = broker_pid
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _broker(self) -> float:
        try:
            fields = Path(f"/proc/{self.broker_pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self.tick
        except (OSError, IndexError, ValueError):
            return 0.0

    def _machine(self) -> float:
        try:
            user, nice, system, _idle, _iowait, irq, softirq = (
                int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8])
            return (user + nice + system + irq + softirq) / self.tick
        except (OSError, ValueError):
            return 0.0

    def mark(self) -> CpuMark:
        return CpuMark(now(), time.process_time(), self._broker(), self._machine())

    def usage(self, since: CpuMark) -> dict[str, float]:
        end = self.mark()
        wall = max(end.wall - since.wall, 1e-9)
        own, broker = end.own - since.own, end.broker - since.broker
        others = max(0.0, end.machine - since.machine - own - broker) if end.machine else math.nan
        return {"wall_s": wall, "bench_cpu_s": own, "broker_cpu_s": broker, "other_cores": others / wall}

    def note(self, since: CpuMark, events: int) -> tuple[str, dict[str, float]]:
        usage = self.usage(since)
        text = (f"CPU: bench process {usage['bench_cpu_s'] / usage['wall_s']:.0%} of a core "
                f"({usage['bench_cpu_s'] * 1000 / max(events, 1):.2f} ms/event), broker "
                f"{usage['broker_cpu_s'] / usage['wall_s']:.0%}, other processes {usage['other_cores']:.2f} cores")
        return text, usage


async def paced(rate: float, seconds: float, step: Callable[[int], Awaitable[None]]) -> tuple[int, float, float]:
    """Call step(0), step(1), ... on a fixed schedule of `rate` per second for `seconds` of wall time.

    When behind schedule it catches up back to back, but still yields to the event loop between steps
    (as a server does between requests). Returns how many steps ran, the achieved rate and the worst
    lag behind the schedule in ms."""
    interval = 1.0 / rate
    start = now()
    worst_lag = 0.0
    count = 0
    while True:
        due = start + count * interval
        if due - start >= seconds or now() - start >= seconds:
            break
        delay = due - now()
        await asyncio.sleep(max(delay, 0))
        worst_lag = max(worst_lag, now() - due)
        await step(count)
        count += 1
    elapsed = now() - start
    return count, count / elapsed, worst_lag * 1000


# --------------------------------------------------------------------------------------------- raw aiokafka


class RawRig:
    """A plain producer and a group consumer with manual commits; no database, no envelope parsing."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.payload = raw_payload()
        self.headers = event_headers(LoadGenerated.event_type, "00000000-0000-0000-0000-000000000000")
        self.arrivals = Arrivals()
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_topics(self.bootstrap, [self.topic], PARTITIONS, 1)
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=False)
        self.consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=self.group,
                                         **RAW_CONSUMER_OPTIONS)
        await self.producer.start()
        await self.consumer.start()
        self._task = asyncio.create_task(self._consume(), name=f"raw:{self.group}")
        warmup = [-(i + 1) for i in range(WARMUP_EVENTS)]
        await asyncio.gather(*[await self.send(n) for n in warmup])
        if not await self.arrivals.wait_for(warmup, 60):
            raise RuntimeError(f"raw warm-up events not consumed by {self.group}")

    async def send(self, n: int) -> asyncio.Future[Any]:
        assert self.producer is not None
        return await self.producer.send(self.topic, value=self.payload, key=subject_for(n).encode(),
                                        headers=self.headers)

    async def _consume(self) -> None:
        assert self.consumer is not None
        while True:
            batches = await self.consumer.getmany(timeout_ms=500, max_records=500)
            for partition, records in batches.items():
                for record in records:
                    self.arrivals.mark(n_of_key(record.key))
                await self.consumer.commit({partition: records[-1].offset + 1})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for client in (self.consumer, self.producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.stop(), 5)


async def raw_throughput(bootstrap: str, events: int, timeout: float, meter: CpuMeter) -> Row:
    rig = RawRig(bootstrap, "sizhong.bench.raw-throughput", "bench-raw-throughput")
    await rig.start()
    try:
        numbers = range(events)
        mark = meter.mark()
        start = now()
        futures = [await rig.send(n) for n in numbers]
        await asyncio.gather(*futures)
        sent = now()
        complete = await rig.arrivals.wait_for(numbers, timeout)
        cpu = meter.note(mark, events)
        got = [rig.arrivals.times[n] for n in numbers if n in rig.arrivals.times]
    finally:
        await rig.stop()
    seconds = (max(got) if got else now()) - start
    row = Row("raw aiokafka", len(got), seconds, len(got) / seconds, result="" if complete else "INCOMPLETE")
    row.notes.append(f"{events:,} sent and acked in {sent - start:.2f}s; {len(got):,} consumed")
    row.attach_cpu(cpu)
    return row


async def raw_latency(bootstrap: str, rate: float, seconds: float, timeout: float, meter: CpuMeter) -> Row:
    rig = RawRig(bootstrap, "sizhong.bench.raw-latency", "bench-raw-latency")
    await rig.start()
    sent_at: dict[int, float] = {}
    futures: list[asyncio.Future[Any]] = []
    mark = meter.mark()
    try:
        async def step(n: int) -> None:
            sent_at[n] = now()
            futures.append(await rig.send(n))

        count, achieved, lag = await paced(rate, seconds, step)
        await asyncio.gather(*futures)
        complete = await rig.arrivals.wait_for(range(count), timeout)
        cpu = meter.note(mark, count)
    finally:
        await rig.stop()
    p50, p99, worst, arrived = latency_stats(sent_at, rig.arrivals.times)
    row = Row(f"raw aiokafka latency @{rate:,.0f}/s", arrived, count / achieved, achieved, p50, p99, worst,
              result="" if complete else "INCOMPLETE")
    row.notes.append(f"send() called -> consumed; worst lag behind the send schedule {lag:.1f} ms")
    row.attach_cpu(cpu)
    return row


# --------------------------------------------------------------------------------------------- our pipeline


async def _no_op(_uow: UnitOfWork, _event: CloudEvent, _data: LoadGenerated) -> None:
    """The handler writes nothing: the applier still writes the inbox row and source_progress."""


class PipelineRig:
    """Producer database + OutboxRelay -> broker -> KafkaEventConsumer + EventApplier -> consumer database."""

    def __init__(self, bootstrap: str, workdir: Path, producer: str, consumer: str) -> None:
        self.service = producer
        self.producer_db = Database(f"sqlite+aiosqlite:///{workdir / (producer + '-outbox.db')}")
        self.consumer_db = Database(f"sqlite+aiosqlite:///{workdir / (consumer + '-inbox.db')}")
        topic = topic_for(producer)
        self.relay = OutboxRelay(self.producer_db, bootstrap=bootstrap, topic=topic,
                                 topics_to_ensure=[topic, dlq_for(topic)], partitions=PARTITIONS, replication=1,
                                 batch_size=500, poll_seconds=0.5)
        subscriptions = Subscriptions(sources=(producer,), handlers=(Subscription(LoadGenerated, _no_op),))
        self.applier = EventApplier(self.consumer_db, CONSUMER_SERVICE, consumer, subscriptions,
                                    after_commit=self._applied)
        self.consumer = KafkaEventConsumer(self.applier, bootstrap=bootstrap, partitions=PARTITIONS, replication=1,
                                           max_attempts=3, retry_backoff=0.2)
        self.arrivals = Arrivals()

    def _applied(self, event: CloudEvent) -> None:
        self.arrivals.mark(int(event.data["n"]))

    async def start(self) -> None:
        await upgrade_to_head(self.producer_db, MIGRATIONS)
        await upgrade_to_head(self.consumer_db, MIGRATIONS)
        self.relay.start()
        self.consumer.start()
        warmup = [-(i + 1) for i in range(WARMUP_EVENTS)]
        for n in warmup:
            await self.commit([n])
        if not await self.arrivals.wait_for(warmup, 60):
            raise RuntimeError(f"pipeline warm-up events not applied by {self.applier.consumer}")

    async def commit(self, numbers: Iterable[int]) -> None:
        async with UnitOfWork(self.producer_db, self.service, on_commit=self.relay.wake) as uow:
            for n in numbers:
                uow.publish(load_event(n), subject=subject_for(n), actor=ACTOR, partition_key=subject_for(n))
            await uow.commit()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.relay.stop()
        await self.producer_db.dispose()
        await self.consumer_db.dispose()


async def pipeline_throughput(bootstrap: str, workdir: Path, producer: str, per_tx: int, events: int,
                              timeout: float, raw: Row, meter: CpuMeter) -> Row:
    rig = PipelineRig(bootstrap, workdir, producer, f"bench-pipeline-{per_tx}ptx")
    await rig.start()
    try:
        mark = meter.mark()
        start = now()
        for first in range(0, events, per_tx):
            await rig.commit(range(first, min(first + per_tx, events)))
            # Yield once between transactions, as a server does between requests. Without it this loop
            # re-takes the single SQLite write connection before the relay's waiting checkout runs, and
            # the relay publishes nothing until the loop ends (see README).
            await asyncio.sleep(0)
        committed = now()
        complete = await rig.arrivals.wait_for(range(events), timeout)
        cpu = meter.note(mark, events)
        got = [rig.arrivals.times[n] for n in range(events) if n in rig.arrivals.times]
    finally:
        await rig.stop()
    seconds = (max(got) if got else now()) - start
    rate = len(got) / seconds
    ratio = rate / raw.events_per_s if raw.events_per_s else math.nan
    ok = complete and ratio >= THROUGHPUT_TARGET
    row = Row(f"pipeline {per_tx} event/tx" if per_tx == 1 else f"pipeline {per_tx} events/tx", len(got), seconds,
              rate, vs_raw=f"{ratio:.0%}", target=f">= {THROUGHPUT_TARGET:.0%} raw",
              result="PASS" if ok else ("FAIL" if complete else "FAIL (incomplete)"))
    row.notes.append(f"{-(-events // per_tx):,} transactions committed in {committed - start:.2f}s "
                     f"({events / (committed - start):,.0f} events/s into the outbox)")
    row.attach_cpu(cpu)
    return row


async def pipeline_latency(bootstrap: str, workdir: Path, producer: str, rate: float, seconds: float,
                           timeout: float, raw: Row | None, consumer: str, targeted: bool,
                           meter: CpuMeter) -> Row:
    rig = PipelineRig(bootstrap, workdir, producer, consumer)
    await rig.start()
    before: dict[int, float] = {}
    after: dict[int, float] = {}
    mark = meter.mark()
    try:
        async def step(n: int) -> None:
            before[n] = now()
            await rig.commit([n])
            after[n] = now()

        count, achieved, lag = await paced(rate, seconds, step)
        complete = await rig.arrivals.wait_for(range(count), timeout)
        cpu = meter.note(mark, count)
    finally:
        await rig.stop()
    p50, p99, worst, arrived = latency_stats(after, rig.arrivals.times)
    s50, s99, _smax, _ = latency_stats(before, rig.arrivals.times)
    c50, c99, cmax, _ = latency_stats(before, after)
    row = Row(f"pipeline latency @{rate:,.0f}/s 1 event/tx", arrived, count / achieved, achieved, p50, p99, worst)
    if raw is not None and raw.p99_ms:
        row.vs_raw = f"p99 {p99 / raw.p99_ms:.1f}x"
    if targeted:
        ok = complete and p99 <= LATENCY_TARGET_MS and achieved >= rate * 0.95
        row.target = f"p99 <= {LATENCY_TARGET_MS:.0f} ms"
        row.result = "PASS" if ok else ("FAIL" if complete else "FAIL (incomplete)")
    elif not complete:
        row.result = "INCOMPLETE"
    row.notes.append(f"commit returned -> applied; from commit start: p50 {s50:.1f} / p99 {s99:.1f} ms; "
                     f"the commit itself: p50 {c50:.1f} / p99 {c99:.1f} / max {cmax:.1f} ms")
    if achieved < rate * 0.95:
        row.notes.append(f"offered rate not sustained: {achieved:,.0f}/s achieved of {rate:,.0f}/s "
                         f"(worst lag behind schedule {lag:,.0f} ms); latency is mostly queueing")
    row.attach_cpu(cpu)
    return row


# --------------------------------------------------------------------------------------------- main


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace, bootstrap: str, meter: CpuMeter) -> list[Row]:
    rows: list[Row] = []
    per_tx_sizes = [int(x) for x in args.per_tx.split(",") if x.strip()]
    # One producing service (so one topic) per pipeline scenario: they never see each other's events.
    producers = iter(PRODUCERS)
    with tempfile.TemporaryDirectory(prefix="sizhong-bench-") as tmp:
        workdir = Path(tmp)
        progress(f"raw aiokafka throughput, {args.raw_events:,} events")
        raw = await raw_throughput(bootstrap, args.raw_events, args.timeout, meter)
        rows.append(raw)
        single: Row | None = None
        for per_tx in per_tx_sizes:
            progress(f"pipeline throughput, {args.events:,} events, {per_tx}/tx")
            row = await pipeline_throughput(bootstrap, workdir, next(producers), per_tx, args.events, args.timeout,
                                            raw, meter)
            rows.append(row)
            single = row if per_tx == 1 else single
        progress(f"raw aiokafka latency, {args.rate:,.0f}/s for {args.seconds:g}s")
        raw_lat = await raw_latency(bootstrap, args.rate, args.seconds, args.timeout, meter)
        rows.append(raw_lat)
        progress(f"pipeline latency, {args.rate:,.0f}/s for {args.seconds:g}s")
        rows.append(await pipeline_latency(bootstrap, workdir, next(producers), args.rate, args.seconds,
                                           args.timeout, raw_lat, "bench-pipeline-latency", targeted=True,
                                           meter=meter))
        low = args.low_rate
        if low == 0 and single is not None and single.events_per_s < args.rate:
            low = max(10.0, round(single.events_per_s / 2, -1))  # half the measured 1 event/tx capacity
        if low > 0:
            progress(f"pipeline latency, {low:,.0f}/s for {args.seconds:g}s")
            row = await pipeline_latency(bootstrap, workdir, next(producers), low, args.seconds, args.timeout,
                                         None, "bench-pipeline-latency-low", targeted=False, meter=meter)
            row.notes.append("informational: a rate the pipeline sustains (half its 1 event/tx throughput "
                             "unless --low-rate is given)")
            rows.append(row)
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw-events", type=int, default=30_000, help="events in the raw throughput scenario")
    parser.add_argument("--events", type=int, default=2_000, help="events per pipeline throughput scenario")
    parser.add_argument("--per-tx", default="1,10", help="events per transaction, one pipeline row each")
    parser.add_argument("--rate", type=float, default=1000.0, help="steady rate for the latency scenarios")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each latency scenario")
    parser.add_argument("--low-rate", type=float, default=0.0,
                        help="extra pipeline latency row at this rate (0: half the measured 1 event/tx "
                             "throughput, when that is below --rate; negative: no extra row)")
    parser.add_argument("--timeout", type=float, default=60.0, help="max wait for the last event per scenario")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    sizes = [x for x in args.per_tx.split(",") if x.strip()]
    if not all(x.strip().isdigit() and int(x) > 0 for x in sizes) or len(sizes) > len(PRODUCERS) - 2:
        parser.error(f"--per-tx: up to {len(PRODUCERS) - 2} positive integers, comma-separated")
    return args


def _clean(value: Any) -> Any:
    """JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    broker = Broker(free_port())
    broker.start()
    meter = CpuMeter(broker.process.pid if broker.process else None)
    whole = meter.mark()
    try:
        rows = asyncio.run(run(args, broker.bootstrap, meter))
        usage = meter.usage(whole)
    finally:
        broker.stop()
    table = render(rows)
    context = (f"{os.cpu_count()} CPUs, Python {platform.python_version()}, Tansu broker (memory storage), "
               f"{PARTITIONS} partitions, ~{ENVELOPE_BYTES}-byte keyed events. Producer, relay and consumer share "
               f"one process and event loop; SQLite (WAL) outbox and inbox databases; the handler is a no-op, "
               f"so an applied event costs its inbox row and source_progress update.")
    print(f"\nSizhong bench: {context}\n")
    print(table)
    print(f"\ntotal {time.monotonic() - started:.0f}s; other processes used {usage['other_cores']:.2f} cores "
          f"on average (load average now {', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    busy = usage["other_cores"] > OTHER_LOAD_WARNING
    if busy:
        print(f"WARNING: the machine was busy with other work ({usage['other_cores']:.2f} of {os.cpu_count()} "
              f"cores on average): these numbers understate both raw and pipeline; run again on an idle machine.")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_clean({
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "context": context,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "parameters": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "targets": {"throughput_vs_raw": THROUGHPUT_TARGET, "latency_p99_ms": LATENCY_TARGET_MS,
                    "latency_rate": args.rate},
        "other_load_cores": usage["other_cores"],
        "machine_busy": busy,
        "rows": [asdict(row) for row in rows],
        "table": table,
    }), indent=2) + "\n")
    print(f"written to {args.json}")
    failed = any(row.result.startswith(("FAIL", "INCOMPLETE")) for row in rows)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
