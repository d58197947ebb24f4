"""`python -m bench.consumer_side`: the consuming side of one bench scenario, in its own process.

In the platform the consuming service runs in a process of its own, apart from the producing service, so
the bench runs it the same way. Two modes:

  (default)  KafkaEventConsumer -> EventApplier (no-op handler, inbox row, source_progress) into the SQLite
             database --db, subscribed to the events of --source; an event counts when its transaction has
             committed (the applier's after_commit callback).
  --raw      a plain AIOKafkaConsumer on --topic, configured as KafkaEventConsumer configures its own,
             committing offsets per fetched partition batch; an event counts when it is returned by getmany.

Protocol on stdout: "ready" once started, then one line "<n> <time.time_ns()>" per counted event (the
event number and the wall clock when it counted), written in batches every few milliseconds; the
timestamps are taken when the event counts, so batching does not add to the measured latency. SIGTERM or
SIGINT stops it cleanly (offsets committed, group left, lines flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.events import LoadGenerated, n_of_key
from shared.consumer import EventApplier, KafkaEventConsumer, Subscription, Subscriptions
from shared.db import Database
from shared.envelope import CloudEvent
from shared.uow import UnitOfWork
from shared.worker import freeze_startup_heap

CONSUMER_SERVICE = "audit"  # the service whose database the pipeline consumer writes into
FLUSH_SECONDS = 0.005
# The raw consumer is configured as shared.consumer.KafkaEventConsumer configures its own (with its default
# session timeout), so the two differ only by what our code does per event.
RAW_CONSUMER_OPTIONS: dict[str, Any] = {
    "enable_auto_commit": False, "auto_offset_reset": "earliest", "metadata_max_age_ms": 3000,
    "max_poll_records": 500, "request_timeout_ms": 10000, "fetch_max_wait_ms": 50, "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000, "rebalance_timeout_ms": 10000, "max_poll_interval_ms": 60000,
}


def migrations_path() -> str:
    import credit

    return str(Path(credit.__file__).parent / "migrations")  # has the platform tables (outbox, inbox, ...)


class Reporter:
    """Collects "<n> <ns>" lines and writes them to stdout in batches."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.out = sys.stdout.buffer

    def mark(self, n: int) -> None:
        self.lines.append(f"{n} {time.time_ns()}\n")

    def say(self, text: str) -> None:
        self.out.write(f"{text}\n".encode())
        self.out.flush()

    def flush(self) -> None:
        if self.lines:
            lines, self.lines = self.lines, []
            self.out.write("".join(lines).encode())
            self.out.flush()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self.flush()


async def _no_op(_uow: UnitOfWork, _event: CloudEvent, _data: LoadGenerated) -> None:
    """The handler writes nothing: the applier still writes the inbox row and source_progress."""


async def run_pipeline(args: argparse.Namespace, reporter: Reporter, stop: asyncio.Event) -> None:
    from shared.migrations import upgrade_to_head

    db = Database(f"sqlite+aiosqlite:///{args.db}")
    await upgrade_to_head(db, migrations_path())

    def applied(event: CloudEvent) -> None:
        reporter.mark(int(event.data["n"]))

    subscriptions = Subscriptions(sources=(args.source,), handlers=(Subscription(LoadGenerated, _no_op),))
    applier = EventApplier(db, CONSUMER_SERVICE, args.group, subscriptions, after_commit=applied)
    consumer = KafkaEventConsumer(applier, bootstrap=args.bootstrap, partitions=args.partitions, replication=1,
                                  max_attempts=3, retry_backoff=0.2)
    consumer.start()
    freeze_startup_heap()  # as a service does once started
    reporter.say("ready")
    try:
        await stop.wait()
    finally:
        await consumer.stop()
        await db.dispose()


async def run_raw(args: argparse.Namespace, reporter: Reporter, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(args.topic, bootstrap_servers=args.bootstrap, group_id=args.group,
                                **RAW_CONSUMER_OPTIONS)
    await consumer.start()

    async def consume() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for partition, records in batches.items():
                for record in records:
                    reporter.mark(n_of_key(record.key))
                await consumer.commit({partition: records[-1].offset + 1})

    task = asyncio.create_task(consume(), name=f"raw:{args.group}")
    freeze_startup_heap()  # the same for the raw consumer
    reporter.say("ready")
    try:
        await asyncio.wait({task, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # a failure: raise it
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 5)


async def main_async(args: argparse.Namespace) -> None:
    reporter = Reporter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    flusher = asyncio.create_task(reporter.run(), name="reporter")
    try:
        await (run_raw if args.raw else run_pipeline)(args, reporter, stop)
    finally:
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
        reporter.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.consumer_side", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True, help="consumer group (and inbox consumer name)")
    parser.add_argument("--raw", action="store_true", help="plain AIOKafkaConsumer, no pipeline")
    parser.add_argument("--topic", help="--raw: the topic to consume")
    parser.add_argument("--source", help="pipeline: the producing service whose events to apply")
    parser.add_argument("--db", type=Path, help="pipeline: the consumer's SQLite database file")
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args(argv)
    if args.raw and not args.topic:
        parser.error("--raw needs --topic")
    if not args.raw and not (args.source and args.db):
        parser.error("the pipeline consumer needs --source and --db")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s consumer[{args.group}] %(levelname)s %(name)s: %(message)s")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
