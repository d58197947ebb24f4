"""Routes of the public notice (任务公示) of a bounty's or contest's winners: the notices of a task (anyone who
may see the task), objections by the round's participants, and a reviewer's decision on each. And the mediator
roster: a mediator enrols itself with its token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from crowdsourcing import flows, handlers
from crowdsourcing.api.common import Mediator, Reviewer, Solver
from crowdsourcing.models import AwardNotice, AwardObjection, MediatorRoster, Task
from shared.auth import CurrentPrincipal
from shared.context import MoneyContextDep
from shared.problems import DomainError
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import PlainText, ResourceId

router = APIRouter(tags=["notices"])


class NoticeView(BaseModel):
    notice: AwardNotice
    objections: list[AwardObjection]


class ObjectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[PlainText, Field(min_length=1, max_length=2000)]
    evidence: Annotated[PlainText, Field(min_length=1, max_length=8000)]


class ObjectionDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upheld: bool
    note: Annotated[PlainText, Field(max_length=2000)] = ""


@router.get("/tasks/{task_id}/notices", response_model=list[NoticeView])
async def task_notices(task_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal) -> list[NoticeView]:
    """The task's notices, newest first, with their objections: public to whoever may see the task."""
    task = await session.get(Task, task_id)
    if task is None or not handlers.may_view(principal, task):
        raise DomainError(404, f"task {task_id} not found", field="task_id")
    notices = (await session.execute(select(AwardNotice).where(AwardNotice.task_id == task_id)
                                     .order_by(col(AwardNotice.published_at).desc()))).scalars().all()
    views = []
    for notice in notices:
        objections = (await session.execute(select(AwardObjection).where(AwardObjection.notice_id == notice.id)
                                            .order_by(col(AwardObjection.filed_at)))).scalars().all()
        views.append(NoticeView(notice=notice, objections=list(objections)))
    return views


@router.get("/objections", response_model=list[AwardObjection])
async def objection_queue(session: ReadSessionDep, _principal: Reviewer) -> list[AwardObjection]:
    """Open objections, oldest first: the reviewers' queue."""
    return list((await session.execute(select(AwardObjection).where(AwardObjection.state == "open")
                                       .order_by(col(AwardObjection.filed_at)).limit(200))).scalars())


@router.post("/notices/{notice_id}/objections", status_code=status.HTTP_201_CREATED,
                     response_model=AwardObjection)
async def object_to_notice(notice_id: ResourceId, body: ObjectionCreate, uow: UnitOfWorkDep, now: Now,
                           principal: Solver) -> AwardObjection:
    return await handlers.object_to_award(uow, principal, notice_id, body.reason, body.evidence, now)


@router.post("/objections/{objection_id}/decision", response_model=AwardObjection)
async def decide_objection(objection_id: ResourceId, body: ObjectionDecision, ctx: MoneyContextDep, now: Now,
                           principal: Reviewer) -> AwardObjection:
    return await flows.run(ctx, lambda uow: handlers.decide_objection(uow, principal, objection_id, body.upheld,
                                                                       body.note, now))


@router.post("/mediators/me", response_model=MediatorRoster, tags=["disputes"])
async def enrol_as_mediator(uow: UnitOfWorkDep, now: Now, principal: Mediator) -> MediatorRoster:
    """A mediator puts itself on the roster (disputes are assigned only to people on it)."""
    return await handlers.enrol_self(uow, principal, now)
