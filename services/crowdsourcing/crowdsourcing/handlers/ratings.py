"""Ratings: the poster and the paid solvers rate each other; missing ones default to positive after a window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from crowdsourcing import contracts as ev
from crowdsourcing.handlers.acceptance import participants
from crowdsourcing.handlers.common import POLICY, SYSTEM, S, move, task_for_update
from crowdsourcing.models import Rating, Task
from shared.auth import Principal
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork


def _rating_pairs(task: Task, solvers: Sequence[str]) -> set[tuple[str, str]]:
    return {(task.poster_id, s) for s in solvers} | {(s, task.poster_id) for s in solvers}


async def rate(uow: UnitOfWork, principal: Principal, task_id: str, ratee_id: str, score: int, comment: str,
               now: datetime) -> Rating:
    task = await task_for_update(uow, task_id)
    pairs = _rating_pairs(task, await participants(uow, task))
    if not any(rater == principal.subject for rater, _ in pairs):
        raise DomainError(403, "only the poster and the paid solvers of this task rate each other", field="task_id")
    if (principal.subject, ratee_id) not in pairs:
        raise DomainError(422, "rate the other side of this task", field="ratee_id")
    if task.state != S.COMPLETED:
        raise DomainError(409, f"ratings are given once the task is completed; it is {task.state!r}",
                          current_state=task.state, rule="illegal_transition")
    rating = Rating(id=new_id(), task_id=task.id, rater_id=principal.subject, ratee_id=ratee_id, score=score,
                    comment=comment, given_at=now)
    uow.session.add(rating)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise DomainError(409, "you have already rated them for this task", field="ratee_id") from exc
    _rated_event(uow, task, rating)
    await _rated_if_complete(uow, task, pairs, principal.subject, now)
    await uow.commit()
    return rating


def _rated_event(uow: UnitOfWork, task: Task, rating: Rating) -> None:
    uow.publish(ev.RatingGiven(rating_id=rating.id, task_id=task.id, rater_id=rating.rater_id,
                               ratee_id=rating.ratee_id, score=rating.score, by_default=rating.is_default,
                               policy_version=task.policy_version),
                subject=task.id, actor=rating.rater_id if not rating.is_default else SYSTEM,
                partition_key=rating.ratee_id)


async def _rated_if_complete(uow: UnitOfWork, task: Task, pairs: set[tuple[str, str]], actor: str,
                             now: datetime) -> None:
    given = {(rater, ratee) for rater, ratee in (await uow.session.execute(
        select(Rating.rater_id, Rating.ratee_id).where(Rating.task_id == task.id))).all()}
    if pairs <= given:
        await move(uow, task, S.RATED, actor, now)


async def default_ratings(uow: UnitOfWork, task_id: str, now: datetime) -> int:
    """After the rating window a missing rating is positive by default; then the task is rated."""
    task = await task_for_update(uow, task_id)
    if task.state != S.COMPLETED or task.completed_at is None or now < task.completed_at + POLICY.rating_default_after:
        return 0
    pairs = _rating_pairs(task, await participants(uow, task))
    given = {(rater, ratee) for rater, ratee in (await uow.session.execute(
        select(Rating.rater_id, Rating.ratee_id).where(Rating.task_id == task.id))).all()}
    for rater, ratee in sorted(pairs - given):
        rating = Rating(id=new_id(), task_id=task.id, rater_id=rater, ratee_id=ratee, score=POLICY.default_rating,
                        comment="", is_default=True, given_at=now)
        uow.session.add(rating)
        _rated_event(uow, task, rating)
    await uow.session.flush()
    await move(uow, task, S.RATED, SYSTEM, now)
    await uow.commit()
    return 1
