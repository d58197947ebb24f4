"""The CloudEvents envelope: required attributes, extensions and explicit wire names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.envelope import CloudEvent, EventData

VALID = {
    "specversion": "1.0", "id": "e1", "source": "/sizhong/gateway",
    "type": "cn.sizhong.identity.organisation.registered.v1", "time": "2026-11-21T10:00:00+08:00",
    "subject": "org-1", "datacontenttype": "application/json", "data": {}, "sequence": 1,
    "partitionkey": "org-1", "actor": "person-1", "traceparent": None,
}


def test_a_valid_envelope_round_trips_through_json() -> None:
    event = CloudEvent.model_validate(VALID)
    assert CloudEvent.from_json_bytes(event.to_json_bytes()) == event
    assert event.service == "gateway"


@pytest.mark.parametrize(("field", "value"), [
    ("specversion", "0.3"), ("type", "OrganisationRegistered"), ("type", "cn.sizhong.x.y.z"),
    ("source", "gateway"), ("sequence", 0), ("time", "2026-11-21T10:00:00"), ("id", ""),
])
def test_bad_attributes_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        CloudEvent.model_validate({**VALID, field: value})
    assert field in str(caught.value)


def test_unknown_extensions_are_kept_for_forward_compatibility() -> None:
    event = CloudEvent.model_validate({**VALID, "newextension": "x"})
    assert CloudEvent.from_json_bytes(event.to_json_bytes()).model_dump()["newextension"] == "x"


def test_event_models_must_declare_a_versioned_wire_name() -> None:
    with pytest.raises(ValueError, match="event_type"):
        class Bad(EventData):
            event_type = "OrganisationRegistered"
