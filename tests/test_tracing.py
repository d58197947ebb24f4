"""The trace goes past the gateway: request → proxied service → its event → the consuming service's logs."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from shared.tracing import trace_id_of
from tests.support.platform import PlatformUnderTest, eventually, mint, start_platform


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformUnderTest]:
    """A platform of its own whose services log at DEBUG, where each applied event gets its line."""
    yield from start_platform(tmp_path_factory.mktemp("tracing"), ("gateway", "credit", "audit"),
                              {"LOG_LEVEL": "DEBUG"})


def log_entries(platform: PlatformUnderTest, service: str) -> list[dict[str, Any]]:
    """The service's JSON log lines so far (platform.log prefixes each line with the service's name)."""
    entries = []
    for line in platform.log_path.read_text(encoding="utf-8").splitlines():
        name, _, rest = line.partition("| ")
        if name.strip() == service:
            try:
                entries.append(json.loads(rest))
            except ValueError:
                continue  # a non-JSON line (e.g. a traceback's continuation) names no trace
    return entries


@pytest.mark.parametrize("callers_trace", [True, False], ids=["with-traceparent", "without-traceparent"])
async def test_a_request_through_the_gateway_keeps_one_trace_into_the_event_and_the_consumers_logs(
        traced: PlatformUnderTest, callers_trace: bool) -> None:
    headers = mint(f"p-{secrets.token_hex(6)}", "solver")
    callers = secrets.token_hex(16)
    if callers_trace:
        headers["traceparent"] = f"00-{callers}-{secrets.token_hex(8)}-01"
    async with traced.client("gateway") as gateway:
        response = await gateway.post("/api/credit/consents", headers=headers,
                                      json={"party_id": f"party-{secrets.token_hex(4)}", "purpose": "招标资格审查"})
    assert response.status_code == 201, response.text
    trace = trace_id_of(response.headers["traceparent"])  # the gateway's span of the request
    assert trace is not None and (trace == callers) is callers_trace  # continued, or started at the gateway

    # the proxied service received the gateway's trace: the event it published is a span of it
    feed = (await traced.get("credit", "/events", after=0, limit=1000)).json()["events"]
    [event] = [e for e in feed if e["subject"] == response.json()["id"]]
    assert trace_id_of(event["traceparent"]) == trace
    assert event["traceparent"] != response.headers["traceparent"]  # a span of its own in that trace

    # the consuming service's JSON log lines about applying it carry the same trace id
    async def applied_in_audit() -> list[dict[str, Any]]:
        mine = [e for e in log_entries(traced, "audit")
                if e.get("message") == "event applied" and e.get("event_id") == event["id"]]
        assert mine, "audit has not logged applying the event yet"
        return mine

    lines = await eventually(applied_in_audit, within=10)
    assert {(line["service"], line["trace_id"], line["type"]) for line in lines} == {
        ("audit", trace, "cn.sizhong.credit.consent.changed.v1")}
