"""Crowdsourcing obeys supervision orders (shared.supervision): a suspended task takes no bids or submissions,
and a suspended subject cannot post, bid or deliver. The handlers call these guards, one line per command."""

from __future__ import annotations

from shared.supervision import ensure_not_suspended
from shared.uow import UnitOfWork


async def subject_may_act(uow: UnitOfWork, *subjects: str | None) -> None:
    for subject in subjects:
        await ensure_not_suspended(uow.session, "subject", subject)


async def task_may_take_part(uow: UnitOfWork, task_id: str, subject: str) -> None:
    await ensure_not_suspended(uow.session, "task", task_id)
    await subject_may_act(uow, subject)
