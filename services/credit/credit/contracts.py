"""Events the credit service publishes."""

from __future__ import annotations

from pydantic import Field

from shared.envelope import EventData


class CreditRecordOpened(EventData):
    event_type = "cn.sizhong.credit.record.opened.v1"

    subject_id: str
    subject_kind: str
    score: int = Field(ge=0, le=1000)
    policy_version: str
    cause_event_id: str
