"""The public notice (任务公示) of a bounty's or contest's chosen winners, pure.

A notice is `published` for the policy's period; the award becomes `final` (and is paid) once the period has
passed with no objection left undecided; an objection a reviewer upholds `withdraws` the notice, and the poster
chooses again. Objections are filed only by the round's other participants, only while the notice is published
and its period runs.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from shared.problems import DomainError


class NoticeState(StrEnum):
    PUBLISHED = "published"
    FINAL = "final"
    WITHDRAWN = "withdrawn"


class ObjectionState(StrEnum):
    OPEN = "open"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


def may_object(state: str, ends_at: datetime, now: datetime) -> None:
    if state != NoticeState.PUBLISHED:
        raise DomainError(409, f"the notice is {state}; objections are filed while it is published",
                          current_state=state, rule="illegal_transition")
    if now > ends_at:
        raise DomainError(409, f"the notice period ended at {ends_at.isoformat()}", current_state=state,
                          rule="notice_period_over")


def is_final(state: str, ends_at: datetime, open_objections: int, now: datetime) -> bool:
    """The award is final once the period is over and no objection waits for a reviewer."""
    return state == NoticeState.PUBLISHED and now > ends_at and open_objections == 0
