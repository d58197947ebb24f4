"""Settings refuse to start on bad values; logs are JSON lines carrying the service and the trace id."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from shared.logs import JsonFormatter
from shared.settings import ServiceSettings
from shared.tracing import current_traceparent, new_traceparent, trace_id_of

GOOD = {"service_name": "credit", "jwt_secret": "s" * 32}


@pytest.mark.parametrize(("override", "field"), [
    ({"jwt_secret": "short"}, "jwt_secret"),
    ({"service_name": "bank"}, "service_name"),
    ({"topic_partitions": 0}, "topic_partitions"),
    ({"log_level": "LOUD"}, "log_level"),
    ({"clock_mode": "fast"}, "clock_mode"),
    ({"sqlite_driver": "threads"}, "sqlite_driver"),
])
def test_bad_settings_fail_at_start_naming_the_setting(override: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceSettings(**{**GOOD, **override})
    assert field in str(caught.value)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "e" * 40)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("SQLITE_DRIVER", "thread")
    settings = ServiceSettings(service_name="audit")  # type: ignore[call-arg]
    assert (settings.jwt_secret, settings.kafka_bootstrap_servers) == ("e" * 40, "kafka:9092")
    assert settings.sqlite_driver == "thread"
    assert settings.effective_database_url.endswith("audit.db")
    assert settings.topic == "sizhong.audit.events"


def test_log_lines_are_json_with_service_and_trace_id() -> None:
    traceparent = new_traceparent()
    token = current_traceparent.set(traceparent)
    try:
        record = logging.makeLogRecord({"name": "x", "levelname": "INFO", "msg": "applied %s", "args": ("e1",),
                                        "event_id": "e1"})
        line = JsonFormatter("credit").format(record)
    finally:
        current_traceparent.reset(token)
    entry = json.loads(line)
    assert entry["service"] == "credit" and entry["message"] == "applied e1" and entry["event_id"] == "e1"
    assert entry["trace_id"] == trace_id_of(traceparent) and len(entry["trace_id"]) == 32
