"""The benchmark's event: a versioned payload padded so its envelope is about ENVELOPE_BYTES on the wire."""

from __future__ import annotations

from shared.envelope import CloudEvent, EventData, source_for
from shared.ids import new_id, utcnow
from shared.tracing import new_traceparent

ENVELOPE_BYTES = 600
ACTOR = "bench"


class LoadGenerated(EventData):
    event_type = "cn.sizhong.bench.load.generated.v1"

    n: int
    padding: str


def subject_for(n: int) -> str:
    """Subject and partition key: one per event, so keys spread over the partitions as real aggregates do."""
    return f"load-{n}"


def n_of_key(key: bytes | None) -> int:
    return int((key or b"load-0")[5:])


def _envelope(n: int, padding: str, service: str) -> CloudEvent:
    """An envelope shaped exactly like shared.outbox.write_outbox makes them."""
    return CloudEvent(
        id=new_id(), source=source_for(service), type=LoadGenerated.event_type, time=utcnow(),
        subject=subject_for(n), data=LoadGenerated(n=n, padding=padding).model_dump(mode="json"),
        sequence=max(n, 1), partitionkey=subject_for(n), actor=ACTOR, traceparent=new_traceparent(),
    )


def _padding_for(size: int) -> str:
    sample = 100_000  # six-digit sequence and subject, typical of a run
    unpadded = len(_envelope(sample, "", "crowdsourcing").to_json_bytes())
    return "x" * max(0, size - unpadded)


PADDING = _padding_for(ENVELOPE_BYTES)


def load_event(n: int) -> LoadGenerated:
    return LoadGenerated(n=n, padding=PADDING)


def raw_payload(service: str = "crowdsourcing") -> bytes:
    """The bytes the raw baseline sends: a real envelope of the same size (its key carries the number)."""
    return _envelope(100_000, PADDING, service).to_json_bytes()
