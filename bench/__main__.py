"""`python -m bench`: raw aiokafka vs our pipeline, in one run against one Tansu broker; prints a table.

Producer and consumer run in separate processes, as the producing and the consuming service do in the
platform: the producing side (raw AIOKafkaProducer, or UnitOfWork + SQLite outbox + OutboxRelay) in this
process, the consuming side (raw AIOKafkaConsumer, or KafkaEventConsumer + EventApplier + SQLite inbox) in
a child process, `python -m bench.consumer_side`, started before the producer. The child reports each
event's arrival as a wall-clock timestamp (time.time_ns(), the same clock in both processes).

Scenarios, in order:
  1. raw aiokafka throughput: N keyed ~600-byte events to a 3-partition topic (acks=all, no idempotence),
     consumed by a group consumer with manual offset commits; first send -> last consumed.
  2. pipeline throughput at 100 events per transaction (targeted: >= 50% of raw), and at 10 and 1 events
     per transaction (informational): UnitOfWork.publish + commit into the outbox, OutboxRelay (woken on
     commit), KafkaEventConsumer -> EventApplier (no-op handler + inbox row); first commit -> last applied.
  3. raw latency at a steady 1,000 events/s: send() called -> consumed.
  4. pipeline latency at 1,000 events/s offered as 100 transactions/s of 10 events (targeted: p99 <= 50 ms),
     and at 300 events/s of single-event transactions (informational): commit returned -> applied.
The notes under the table give CPU per event of each process and how much CPU other processes took
meanwhile (a busy machine skews every number).
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
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlmodel import col

from bench.consumer_side import CONSUMER_SERVICE, migrations_path
from bench.events import ACTOR, ENVELOPE_BYTES, LoadGenerated, load_event, raw_payload, subject_for
from shared.bus import ensure_topics, event_headers
from shared.db import Database
from shared.launcher import Broker, _die_with_parent, free_port
from shared.migrations import upgrade_to_head
from shared.outbox import OutboxRecord
from shared.relay import OutboxRelay
from shared.settings import SERVICES, dlq_for, topic_for
from shared.uow import UnitOfWork
from shared.worker import freeze_startup_heap

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 3
PRODUCERS = tuple(name for name in SERVICES if name != CONSUMER_SERVICE)  # one per pipeline scenario
WARMUP_EVENTS = 20
THROUGHPUT_TARGET = 0.5  # pipeline events/s as a fraction of raw events/s
LATENCY_TARGET_MS = 50.0  # pipeline p99, commit -> applied
RESULTS = Path(__file__).parent / "results" / "latest.json"
OTHER_LOAD_WARNING = 0.25  # cores used by other processes, on average, above which the run is flagged
CHILD_START_TIMEOUT = 60.0

now = time.perf_counter  # durations and schedules inside this process
wall_ns = time.time_ns  # timestamps compared with the consumer process's (one machine, one clock)


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


def latency_stats(starts: dict[int, int], ends: dict[int, int]) -> tuple[float, float, float, int]:
    """p50, p99, max in ms (from ns timestamps) over the events that arrived, and how many arrived."""
    values = sorted((ends[n] - starts[n]) / 1e6 for n in starts if n in ends)
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


# --------------------------------------------------------------------------------------------- the consumer process


class Arrivals:
    """First arrival time (wall clock, ns) per event number, as the consumer process reported it."""

    def __init__(self) -> None:
        self.times: dict[int, int] = {}
        self._missing: set[int] = set()
        self._complete = asyncio.Event()
        self.closed = False

    def mark(self, n: int, at_ns: int) -> None:
        if n in self.times:
            return  # a redelivery: the first arrival counts
        self.times[n] = at_ns
        if n in self._missing:
            self._missing.discard(n)
            if not self._missing:
                self._complete.set()

    def close(self) -> None:
        """The consumer process is gone: nothing more will arrive."""
        self.closed = True
        self._complete.set()

    async def wait_for(self, numbers: Iterable[int], timeout: float) -> bool:
        self._missing = {n for n in numbers if n not in self.times}
        if not self._missing:
            return True
        if self.closed:
            return False
        self._complete.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._complete.wait(), timeout)
        return not self._missing


class ConsumerProcess:
    """`python -m bench.consumer_side ...` as a child; its stdout feeds `arrivals`."""

    def __init__(self, name: str, args: list[str]) -> None:
        self.name = name
        self.args = args
        self.arrivals = Arrivals()
        self.process: asyncio.subprocess.Process | None = None
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.consumer_side", *self.args, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            env=env, preexec_fn=_die_with_parent)
        self._reader = asyncio.create_task(self._read(), name=f"reader:{self.name}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), CHILD_START_TIMEOUT)
        if self.arrivals.closed or not self._ready.is_set():
            await self.stop()
            raise RuntimeError(f"consumer process {self.name} did not start (exit code {self.process.returncode})")

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stream = self.process.stdout
        pending = b""
        mark = self.arrivals.mark
        try:
            while chunk := await stream.read(1 << 16):
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    n, _, at = line.partition(b" ")
                    if at:
                        mark(int(n), int(at))
                    elif line == b"ready":
                        self._ready.set()
        finally:
            self.arrivals.close()
            self._ready.set()

    def cpu_seconds(self) -> float:
        """utime + stime of the child so far, from /proc (getrusage counts only children already waited for)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self._tick
        except (OSError, IndexError, ValueError):
            return 0.0

    async def stop(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if process is not None and process.returncode not in (0, None):
            progress(f"warning: consumer process {self.name} exited with {process.returncode}")


# --------------------------------------------------------------------------------------------- CPU


@dataclass(frozen=True)
class CpuMark:
    wall: float
    own: float
    consumer: float
    broker: float
    machine: float


class CpuMeter:
    """CPU seconds of this process (the producing side), of the consumer process, of the broker and of the
    whole machine (Linux /proc; zeros elsewhere). What the machine used beyond those is other load."""

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

    @staticmethod
    def _children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # consumer processes already waited for
        return usage.ru_utime + usage.ru_stime

    def mark(self, consumer: ConsumerProcess | None = None) -> CpuMark:
        return CpuMark(now(), time.process_time(),
                       consumer.cpu_seconds() if consumer is not None else self._children(),
                       self._broker(), self._machine())

    def usage(self, since: CpuMark, consumer: ConsumerProcess | None = None) -> dict[str, float]:
        """Call with the same consumer as the mark, before that consumer is stopped; without one, the
        consumer figures are those of the child processes that have ended meanwhile (a whole run)."""
        end = self.mark(consumer)
        wall = max(end.wall - since.wall, 1e-9)
        own, child, broker = end.own - since.own, end.consumer - since.consumer, end.broker - since.broker
        others = max(0.0, end.machine - since.machine - own - child - broker) if end.machine else math.nan
        return {"wall_s": wall, "producer_cpu_s": own, "consumer_cpu_s": child, "broker_cpu_s": broker,
                "other_cores": others / wall}

    def note(self, since: CpuMark, events: int, consumer: ConsumerProcess) -> tuple[str, dict[str, float]]:
        usage = self.usage(since, consumer)
        wall, per = usage["wall_s"], max(events, 1) / 1000

        def share(key: str) -> str:
            return f"{usage[key] / per:.2f} ms/event ({usage[key] / wall:.0%} of a core)"

        text = (f"CPU: producer process {share('producer_cpu_s')}, consumer process {share('consumer_cpu_s')}, "
                f"broker {usage['broker_cpu_s'] / wall:.0%}, other processes {usage['other_cores']:.2f} cores")
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
    """A plain producer here; a plain group consumer with manual commits in the consumer process."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.payload = raw_payload()
        self.headers = event_headers(LoadGenerated.event_type, "00000000-0000-0000-0000-000000000000")
        self.consumer = ConsumerProcess(group, ["--raw", "--bootstrap", bootstrap, "--topic", topic, "--group",
                                                group, "--partitions", str(PARTITIONS)])
        self.arrivals = self.consumer.arrivals
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        await ensure_topics(self.bootstrap, [self.topic], PARTITIONS, 1)
        await self.consumer.start()
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=False)
        await self.producer.start()
        warmup = [-(i + 1) for i in range(WARMUP_EVENTS)]
        await asyncio.gather(*[await self.send(n) for n in warmup])
        if not await self.arrivals.wait_for(warmup, 60):
            raise RuntimeError(f"raw warm-up events not consumed by {self.group}")

    async def send(self, n: int) -> asyncio.Future[Any]:
        assert self.producer is not None
        return await self.producer.send(self.topic, value=self.payload, key=subject_for(n).encode(),
                                        headers=self.headers)

    async def stop(self) -> None:
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), 5)
        await self.consumer.stop()


async def raw_throughput(bootstrap: str, events: int, timeout: float, meter: CpuMeter) -> Row:
    rig = RawRig(bootstrap, "sizhong.bench.raw-throughput", "bench-raw-throughput")
    try:
        await rig.start()
        numbers = range(events)
        mark = meter.mark(rig.consumer)
        start, started = wall_ns(), now()
        futures = [await rig.send(n) for n in numbers]
        await asyncio.gather(*futures)
        sent = now()
        complete = await rig.arrivals.wait_for(numbers, timeout)
        cpu = meter.note(mark, events, rig.consumer)
    finally:
        await rig.stop()
    got = [rig.arrivals.times[n] for n in numbers if n in rig.arrivals.times]
    seconds = ((max(got) if complete else wall_ns()) - start) / 1e9
    row = Row("raw aiokafka", len(got), seconds, len(got) / seconds, result="" if complete else "INCOMPLETE")
    row.notes.append(f"{events:,} sent and acked in {sent - started:.2f}s; {len(got):,} consumed")
    row.attach_cpu(cpu)
    return row


async def raw_latency(bootstrap: str, rate: float, seconds: float, timeout: float, meter: CpuMeter) -> Row:
    rig = RawRig(bootstrap, "sizhong.bench.raw-latency", "bench-raw-latency")
    sent_at: dict[int, int] = {}
    futures: list[asyncio.Future[Any]] = []
    try:
        await rig.start()
        mark = meter.mark(rig.consumer)

        async def step(n: int) -> None:
            sent_at[n] = wall_ns()
            futures.append(await rig.send(n))

        count, achieved, lag = await paced(rate, seconds, step)
        await asyncio.gather(*futures)
        complete = await rig.arrivals.wait_for(range(count), timeout)
        cpu = meter.note(mark, count, rig.consumer)
    finally:
        await rig.stop()
    p50, p99, worst, arrived = latency_stats(sent_at, rig.arrivals.times)
    row = Row(f"raw aiokafka latency {rate:,.0f} events/s", arrived, count / achieved, achieved, p50, p99, worst,
              result="" if complete else "INCOMPLETE")
    row.notes.append(f"send() called -> consumed; worst lag behind the send schedule {lag:.1f} ms")
    row.attach_cpu(cpu)
    return row


# --------------------------------------------------------------------------------------------- our pipeline


class PipelineRig:
    """Here: producer database + OutboxRelay. Consumer process: KafkaEventConsumer + EventApplier + inbox."""

    def __init__(self, bootstrap: str, workdir: Path, producer: str, consumer: str) -> None:
        self.bootstrap = bootstrap
        self.service = producer
        self.topic = topic_for(producer)
        self.producer_db = Database(f"sqlite+aiosqlite:///{workdir / (producer + '-outbox.db')}")
        self.relay = OutboxRelay(self.producer_db, bootstrap=bootstrap, topic=self.topic,
                                 topics_to_ensure=[self.topic, dlq_for(self.topic)], partitions=PARTITIONS,
                                 replication=1, batch_size=500, poll_seconds=0.5)
        self.consumer = ConsumerProcess(consumer, [
            "--bootstrap", bootstrap, "--source", producer, "--db", str(workdir / (consumer + "-inbox.db")),
            "--group", consumer, "--partitions", str(PARTITIONS)])
        self.arrivals = self.consumer.arrivals
        self._relay_started = False

    async def start(self) -> None:
        await upgrade_to_head(self.producer_db, migrations_path())
        await ensure_topics(self.bootstrap, [self.topic, dlq_for(self.topic)], PARTITIONS, 1)
        await self.consumer.start()  # before the producer, as in the platform
        self.relay.start()
        self._relay_started = True
        warmup = [-(i + 1) for i in range(WARMUP_EVENTS)]
        for n in warmup:
            await self.commit([n])
        if not await self.arrivals.wait_for(warmup, 60):
            raise RuntimeError(f"pipeline warm-up events not applied by {self.consumer.name}")

    async def commit(self, numbers: Iterable[int]) -> None:
        async with UnitOfWork(self.producer_db, self.service, on_commit=self.relay.wake) as uow:
            for n in numbers:
                uow.publish(load_event(n), subject=subject_for(n), actor=ACTOR, partition_key=subject_for(n))
            await uow.commit()

    async def sent_times(self) -> dict[int, int]:
        """When the relay marked each measured event sent (after the broker's ack), wall clock ns."""
        async with self.producer_db.reading() as session:
            rows = (await session.execute(
                select(col(OutboxRecord.subject), col(OutboxRecord.sent_at))
                .where(col(OutboxRecord.sent_at).is_not(None)))).all()
        return {int(subject[5:]): int(sent_at.timestamp() * 1e9) for subject, sent_at in rows
                if sent_at is not None and not subject.startswith("load--")}

    async def stop(self) -> None:
        if self._relay_started:
            await self.relay.stop()
        await self.consumer.stop()
        await self.producer_db.dispose()


def _per_tx(per_tx: int) -> str:
    return f"{per_tx} event/tx" if per_tx == 1 else f"{per_tx} events/tx"


async def pipeline_throughput(bootstrap: str, workdir: Path, producer: str, per_tx: int, events: int,
                              timeout: float, raw: Row, targeted: bool, meter: CpuMeter) -> Row:
    rig = PipelineRig(bootstrap, workdir, producer, f"bench-pipeline-{per_tx}ptx")
    try:
        await rig.start()
        mark = meter.mark(rig.consumer)
        start, started = wall_ns(), now()
        for first in range(0, events, per_tx):
            await rig.commit(range(first, min(first + per_tx, events)))
            # Yield once between transactions, as a server does between requests.
            await asyncio.sleep(0)
        committed = now()
        complete = await rig.arrivals.wait_for(range(events), timeout)
        cpu = meter.note(mark, events, rig.consumer)
    finally:
        await rig.stop()
    got = [rig.arrivals.times[n] for n in range(events) if n in rig.arrivals.times]
    seconds = ((max(got) if complete else wall_ns()) - start) / 1e9
    rate = len(got) / seconds
    ratio = rate / raw.events_per_s if raw.events_per_s else math.nan
    row = Row(f"pipeline {_per_tx(per_tx)}", len(got), seconds, rate, vs_raw=f"{ratio:.0%}")
    if targeted:
        row.target = f">= {THROUGHPUT_TARGET:.0%} raw"
        row.result = ("PASS" if ratio >= THROUGHPUT_TARGET else "FAIL") if complete else "FAIL (incomplete)"
    else:
        row.result = "" if complete else "INCOMPLETE"
        row.notes.append("informational (no target): smaller transactions, fewer events")
    row.notes.append(f"{-(-events // per_tx):,} transactions committed in {committed - started:.2f}s "
                     f"({events / (committed - started):,.0f} events/s into the outbox)")
    if not complete:
        row.notes.append(f"only {len(got):,} of {events:,} applied within {timeout:g}s of the last commit; "
                         f"the rate counts those up to the deadline")
    row.attach_cpu(cpu)
    return row


async def pipeline_latency(bootstrap: str, workdir: Path, producer: str, rate: float, per_tx: int,
                           seconds: float, timeout: float, raw: Row | None, consumer: str, targeted: bool,
                           meter: CpuMeter) -> Row:
    """`rate` events/s offered as rate/per_tx transactions/s of `per_tx` events each."""
    rig = PipelineRig(bootstrap, workdir, producer, consumer)
    before: dict[int, int] = {}
    after: dict[int, int] = {}
    tx_rate = rate / per_tx
    try:
        await rig.start()
        mark = meter.mark(rig.consumer)

        async def step(i: int) -> None:
            numbers = range(i * per_tx, (i + 1) * per_tx)
            started = wall_ns()
            await rig.commit(numbers)
            returned = wall_ns()
            for n in numbers:
                before[n], after[n] = started, returned

        count, achieved_tx, lag = await paced(tx_rate, seconds, step)
        events = count * per_tx
        complete = await rig.arrivals.wait_for(range(events), timeout)
        cpu = meter.note(mark, events, rig.consumer)
        sent = await rig.sent_times()
    finally:
        await rig.stop()
    achieved = achieved_tx * per_tx
    p50, p99, worst, arrived = latency_stats(after, rig.arrivals.times)
    s50, s99, _smax, _ = latency_stats(before, rig.arrivals.times)
    c50, c99, cmax, _ = latency_stats(before, after)
    label = f"pipeline latency {rate:,.0f} events/s as {tx_rate:,.0f} tx/s x {per_tx} event{'s' * (per_tx > 1)}"
    row = Row(label, arrived, count / achieved_tx, achieved, p50, p99, worst)
    if raw is not None and raw.p99_ms:
        row.vs_raw = f"p99 {p99 / raw.p99_ms:.1f}x"
    sustained = achieved >= rate * 0.95
    if targeted:
        row.target = f"p99 <= {LATENCY_TARGET_MS:.0f} ms"
        row.result = ("PASS" if p99 <= LATENCY_TARGET_MS and sustained else "FAIL") if complete \
            else "FAIL (incomplete)"
    else:
        row.result = "" if complete else "INCOMPLETE"
        row.notes.append("informational (no target)")
    row.notes.append(f"commit returned -> applied; from commit start: p50 {s50:.1f} / p99 {s99:.1f} ms; "
                     f"the commit itself: p50 {c50:.1f} / p99 {c99:.1f} / max {cmax:.1f} ms")
    r50, r99, _rmax, _ = latency_stats(after, sent)
    k50, k99, _kmax, _ = latency_stats(sent, rig.arrivals.times)
    row.notes.append(f"stages: commit returned -> relay marked it sent (broker acked, sent_at written) p50 {r50:.1f} "
                     f"/ p99 {r99:.1f} ms; marked sent -> applied p50 {k50:.1f} / p99 {k99:.1f} ms")
    if not sustained:
        row.notes.append(f"offered rate not sustained: {achieved:,.0f} events/s achieved of {rate:,.0f} "
                         f"(worst lag behind schedule {lag:,.0f} ms); latency is mostly queueing")
    row.attach_cpu(cpu)
    return row


# --------------------------------------------------------------------------------------------- main


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace, bootstrap: str, meter: CpuMeter) -> list[Row]:
    rows: list[Row] = []
    freeze_startup_heap()  # as every service does once started; the raw rows run in this process too
    # One producing service (so one topic) per pipeline scenario: they never see each other's events.
    producers = iter(PRODUCERS)
    with tempfile.TemporaryDirectory(prefix="sizhong-bench-") as tmp:
        workdir = Path(tmp)
        progress(f"raw aiokafka throughput, {args.raw_events:,} events")
        raw = await raw_throughput(bootstrap, args.raw_events, args.timeout, meter)
        rows.append(raw)
        for per_tx, events in args.throughput:
            progress(f"pipeline throughput, {events:,} events, {per_tx}/tx")
            rows.append(await pipeline_throughput(bootstrap, workdir, next(producers), per_tx, events,
                                                  args.timeout, raw, per_tx == args.targeted_per_tx, meter))
        progress(f"raw aiokafka latency, {args.rate:,.0f} events/s for {args.seconds:g}s")
        raw_lat = await raw_latency(bootstrap, args.rate, args.seconds, args.timeout, meter)
        rows.append(raw_lat)
        progress(f"pipeline latency, {args.rate:,.0f} events/s as {args.latency_per_tx}/tx for {args.seconds:g}s")
        rows.append(await pipeline_latency(bootstrap, workdir, next(producers), args.rate, args.latency_per_tx,
                                           args.seconds, args.timeout, raw_lat, "bench-pipeline-latency",
                                           targeted=True, meter=meter))
        if args.single_rate > 0:
            progress(f"pipeline latency, {args.single_rate:,.0f} events/s as 1/tx for {args.seconds:g}s")
            rows.append(await pipeline_latency(bootstrap, workdir, next(producers), args.single_rate, 1,
                                               args.seconds, args.timeout, raw_lat, "bench-pipeline-latency-1ptx",
                                               targeted=False, meter=meter))
        if args.pledges > 0:
            progress(f"pledges per second on one worker vs a bare FastAPI endpoint, {args.pledges:,} each")
            rows.append(await pledge_row(workdir, args.pledges))
        if args.audit_events > 0:
            rows.extend(await audit_rows(workdir, args.audit_events, args.audit_export_entries))
        if args.credit_events > 0:
            progress(f"credit score rebuild by replay, {args.credit_events:,} events")
            rows.append(await credit_row(workdir, args.credit_events))
    return rows


async def credit_row(workdir: Path, total: int) -> Row:
    """Credit rebuild: stored facts read and refolded, compared with the live scores (bench/credit.py)."""
    from bench.credit import TARGET, measure

    result = await measure(workdir, total)
    row = Row("credit score rebuild by replay", result.events, result.seconds, result.per_s,
              vs_raw=f"{result.per_s / result.fold_per_s:.2f} of pure fold" if result.fold_per_s else "",
              target=f">= {TARGET:,.0f}/s", result="PASS" if result.passed else "FAIL")
    row.notes.append(f"pure fold alone over the same {result.facts:,} facts in memory, same run: "
                     f"{result.fold_per_s:,.0f} events/s; rebuild equal to the live scores: {result.equal}; "
                     f"the live handler path loading them took {result.loaded_seconds:.1f}s (not timed); "
                     f"see bench/credit.py")
    return row


async def audit_rows(workdir: Path, events: int, export_entries: int) -> list[Row]:
    """Audit log append throughput with hashing, and offline verification of an export (bench/audit.py)."""
    from bench.audit import measure_append, measure_verify

    progress(f"audit append with hashing, {events:,} events")
    measured = [("audit append with hashing", await measure_append(workdir, events))]
    if export_entries > 0:
        progress(f"offline verification of a {export_entries:,}-entry audit export")
        measured.append((f"audit offline verify, {export_entries:,} entries",
                         await asyncio.to_thread(measure_verify, workdir, export_entries)))
    rows = []
    for label, result in measured:
        row = Row(label, result.events, result.seconds, result.per_s, target=result.target,
                  result="PASS" if result.passed else "FAIL")
        row.notes.extend(result.notes)
        rows.append(row)
    return rows


async def pledge_row(workdir: Path, total: int) -> Row:
    """Crowdfunding pledges (unit + pledge + ledger + outbox in one transaction) beside a bare endpoint."""
    from bench.pledges import CLIENTS, ROUNDS, TARGET, measure

    result = await measure(workdir, total)
    row = Row("pledges per second on one worker", result.pledges, result.seconds, result.per_s,
              vs_raw=f"{result.ratio:.2f} of bare", target=f">= {TARGET:.2f} of bare",
              result="PASS" if result.passed else "FAIL")
    row.notes.append(f"bare FastAPI endpoint in the same run: {result.bare_per_s:,.0f} requests/s "
                     f"({result.bare_requests:,} in {result.bare_seconds:.2f}s); {CLIENTS} concurrent clients over "
                     f"httpx's ASGI transport for both, in {ROUNDS} alternating rounds; see bench/pledges.py")
    return row


def _throughput_spec(text: str) -> list[tuple[int, int]]:
    spec = []
    for item in text.split(","):
        per_tx, sep, events = item.strip().partition(":")
        if not (sep and per_tx.isdigit() and events.isdigit() and int(per_tx) > 0 and int(events) > 0):
            raise argparse.ArgumentTypeError(f"expected EVENTS_PER_TX:EVENTS[,...], got {item!r}")
        spec.append((int(per_tx), int(events)))
    return spec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw-events", type=int, default=30_000, help="events in the raw throughput scenario")
    parser.add_argument("--throughput", type=_throughput_spec, default=_throughput_spec("100:30000,10:3000,1:1000"),
                        help="pipeline throughput rows as EVENTS_PER_TX:EVENTS, comma-separated "
                             "(default 100:30000,10:3000,1:1000)")
    parser.add_argument("--targeted-per-tx", type=int, default=100,
                        help="the throughput row held to the target; the others are informational")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s in the targeted latency scenarios")
    parser.add_argument("--latency-per-tx", type=int, default=10,
                        help="events per transaction in the targeted pipeline latency scenario")
    parser.add_argument("--single-rate", type=float, default=300.0,
                        help="events/s of the informational 1 event/tx latency row (<= 0: no row)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each latency scenario")
    parser.add_argument("--timeout", type=float, default=60.0, help="max wait for the last event per scenario")
    parser.add_argument("--pledges", type=int, default=2000,
                        help="pledges (and bare requests) in the crowdfunding pledge row (<= 0: no row)")
    parser.add_argument("--audit-events", type=int, default=100_000,
                        help="events in the audit append row (<= 0: no audit rows)")
    parser.add_argument("--audit-export-entries", type=int, default=1_000_000,
                        help="entries in the audit offline verification row (<= 0: no such row)")
    parser.add_argument("--credit-events", type=int, default=100_000,
                        help="events in the credit rebuild row (<= 0: no such row)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if len(args.throughput) + 2 > len(PRODUCERS):
        parser.error(f"--throughput: at most {len(PRODUCERS) - 2} rows")
    if args.latency_per_tx < 1 or args.rate <= 0:
        parser.error("--rate and --latency-per-tx must be positive")
    return args


def _clean(value: Any) -> Any:
    """JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
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
               f"{PARTITIONS} partitions, ~{ENVELOPE_BYTES}-byte keyed events. Producer (raw producer, or outbox + "
               f"relay) in the bench process, consumer (raw consumer, or KafkaEventConsumer + EventApplier + inbox) "
               f"in a child process, as the services run; SQLite (WAL) outbox and inbox databases; the handler is "
               f"a no-op, so an applied event costs its inbox row and source_progress update.")
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
        "targets": {"throughput_vs_raw": THROUGHPUT_TARGET, "throughput_per_tx": args.targeted_per_tx,
                    "latency_p99_ms": LATENCY_TARGET_MS, "latency_rate": args.rate,
                    "latency_per_tx": args.latency_per_tx},
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
