"""The CloudEvents 1.0 envelope (structured JSON mode) with Sizhong's extensions.

A regulator reading a topic with a plain Kafka client sees whole, self-describing events.
Wire names (`type`) are explicit strings on the data models, never class names.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CONTENT_TYPE = "application/cloudevents+json"
TYPE_PATTERN = re.compile(r"^cn\.sizhong\.[a-z]+\.[a-z_]+\.[a-z_]+\.v[1-9][0-9]*$")


class EventData(BaseModel):
    """Base of every versioned event payload; subclasses set `event_type` to their wire name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        wire = cls.__dict__.get("event_type")
        if wire is not None and not TYPE_PATTERN.match(wire):
            raise ValueError(f"{cls.__name__}.event_type {wire!r} is not cn.sizhong.<ctx>.<agg>.<verb>.vN")


class CloudEvent(BaseModel):
    """One event as it travels: on the broker, in the replay feed and in the audit log.

    Unknown extension attributes are kept, not refused (CloudEvents consumers must tolerate them), so a
    producer that adds one does not break older consumers, and the audit log records the event whole.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=64)
    source: str = Field(pattern=r"^/sizhong/[a-z]+$")
    type: str = Field(pattern=TYPE_PATTERN.pattern)
    time: datetime
    subject: str = Field(min_length=1, max_length=200)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    sequence: int = Field(ge=1)
    partitionkey: str = Field(min_length=1, max_length=200)
    actor: str = Field(min_length=1, max_length=200)
    traceparent: str | None = None

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a timezone (RFC 3339)")
        return value

    @property
    def service(self) -> str:
        """The publishing service, from `source` (/sizhong/<service>)."""
        return self.source.rsplit("/", 1)[-1]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate_json(raw)


def source_for(service: str) -> str:
    return f"/sizhong/{service}"
