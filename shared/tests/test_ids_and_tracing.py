"""Event ids that sort by creation, and trace context carried from one span to the next."""

from __future__ import annotations

import uuid

from shared.ids import ordered_ids
from shared.tracing import child_traceparents, current_traceparent, propagate, trace_id_of

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_event_ids_are_uuid7_unique_and_sorted_even_past_4096_in_one_millisecond() -> None:
    ids = ordered_ids(10_000) + ordered_ids(5)  # one call: more than the 12-bit counter holds
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 and str(u) == i for u, i in zip(parsed, ids, strict=True))
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_each_event_is_a_new_span_of_its_parents_trace_and_parentless_events_share_a_new_trace() -> None:
    children = child_traceparents([CALLER, CALLER, None, "garbage", None])
    assert [trace_id_of(c) for c in children[:2]] == ["4bf92f3577b34da6a3ce929d0e0e4736"] * 2
    fresh = {trace_id_of(c) for c in children[2:]}
    assert len(fresh) == 1 and None not in fresh and "4bf92f3577b34da6a3ce929d0e0e4736" not in fresh
    assert len(set(children)) == 5 and all(trace_id_of(c) for c in children)


def test_a_call_to_another_service_carries_the_current_span_not_the_callers() -> None:
    assert propagate({"Traceparent": CALLER, "authorization": "x"}) == {"Traceparent": CALLER, "authorization": "x"}
    mine = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"
    token = current_traceparent.set(mine)
    try:
        assert propagate({"Traceparent": CALLER, "authorization": "x"}) == {"authorization": "x", "traceparent": mine}
    finally:
        current_traceparent.reset(token)
