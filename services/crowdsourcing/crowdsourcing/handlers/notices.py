"""Public notice (任务公示) of a bounty's or contest's chosen winners: the round's other participants object
within the notice period, a reviewer decides each objection (upheld: the notice is withdrawn and the poster
chooses again), and once the period has passed with nothing pending the award is final and paid."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from crowdsourcing import contracts as ev
from crowdsourcing.domain.notice import NoticeState, ObjectionState, is_final, may_object
from crowdsourcing.handlers.acceptance import award, round_prizes
from crowdsourcing.handlers.common import SYSTEM, milestones_of, sha256, task_for_update
from crowdsourcing.models import AwardNotice, AwardObjection, Submission, Task
from shared.auth import Principal
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork


async def _notice_for_update(uow: UnitOfWork, notice_id: str) -> tuple[AwardNotice, Task]:
    """Lock the task first, then the notice (the order every command uses); both, locked."""
    found = await uow.session.get(AwardNotice, notice_id)
    if found is None:
        raise DomainError(404, f"notice {notice_id} not found", field="notice_id")
    task = await task_for_update(uow, found.task_id)
    notice = (await uow.session.execute(select(AwardNotice).where(AwardNotice.id == notice_id).with_for_update()
                                        .execution_options(populate_existing=True))).scalars().one()
    return notice, task


async def object_to_award(uow: UnitOfWork, principal: Principal, notice_id: str, reason: str, evidence: str,
                          now: datetime) -> AwardObjection:
    """A solver who delivered to the round objects, with evidence, while the notice runs; once each."""
    notice, _ = await _notice_for_update(uow, notice_id)
    took_part = (await uow.session.execute(select(Submission.id).where(
        Submission.milestone_id == notice.milestone_id, Submission.solver_id == principal.subject))).first()
    if took_part is None:
        raise DomainError(403, "only the round's participants object to its winners", field="notice_id")
    may_object(notice.state, notice.ends_at, now)
    objection = AwardObjection(id=new_id(), notice_id=notice.id, task_id=notice.task_id,
                               objector_id=principal.subject, reason=reason, evidence_sha256=sha256(evidence),
                               filed_at=now)
    uow.session.add(objection)
    uow.publish(ev.ObjectionFiled(objection_id=objection.id, notice_id=notice.id, task_id=notice.task_id,
                                  objector_id=principal.subject, reason=reason,
                                  evidence_sha256=objection.evidence_sha256),
                subject=notice.task_id, actor=principal.subject, partition_key=principal.subject)
    try:
        await uow.commit()
    except IntegrityError as exc:
        raise DomainError(409, "you have already objected to this notice", field="notice_id") from exc
    return objection


async def decide_objection(uow: UnitOfWork, principal: Principal, objection_id: str, upheld: bool, note: str,
                           now: datetime) -> AwardObjection:
    """A reviewer's decision. Upheld: the notice is withdrawn and the round's selection reopens."""
    found = await uow.session.get(AwardObjection, objection_id)
    if found is None:
        raise DomainError(404, f"objection {objection_id} not found", field="objection_id")
    notice, task = await _notice_for_update(uow, found.notice_id)
    objection = (await uow.session.execute(select(AwardObjection).where(AwardObjection.id == objection_id)
                                           .with_for_update().execution_options(populate_existing=True))
                 ).scalars().one()
    if principal.subject in (task.poster_id, objection.objector_id):
        raise DomainError(403, "a reviewer decides no objection about its own task or its own objection",
                          field="objection_id")
    if objection.state != ObjectionState.OPEN:
        raise DomainError(409, f"the objection is already {objection.state}", current_state=objection.state,
                          rule="illegal_transition")
    objection.state = (ObjectionState.UPHELD if upheld else ObjectionState.DISMISSED).value
    objection.reviewer_id, objection.note, objection.decided_at = principal.subject, note, now
    uow.publish(ev.ObjectionDecided(objection_id=objection.id, notice_id=notice.id, task_id=task.id,
                                    objector_id=objection.objector_id, reviewer_id=principal.subject, upheld=upheld,
                                    note=note),
                subject=task.id, actor=principal.subject, partition_key=objection.objector_id)
    if upheld and notice.state == NoticeState.PUBLISHED:
        notice.state, notice.decided_at = NoticeState.WITHDRAWN.value, now
        uow.publish(ev.NoticeWithdrawn(notice_id=notice.id, task_id=task.id, milestone_id=notice.milestone_id,
                                       objection_id=objection.id),
                    subject=task.id, actor=principal.subject, partition_key=task.organisation_id or task.poster_id)
    await uow.commit()
    return objection


async def finalise_notice(uow: UnitOfWork, notice_id: str, now: datetime) -> int:
    """The notice period is over and no objection waits: the award is final and paid. Winners disqualified
    meanwhile (an upheld report) drop out and their prizes are unclaimed. Idempotent (a final notice is left)."""
    notice, task = await _notice_for_update(uow, notice_id)
    pending = (await uow.session.execute(select(func.count()).select_from(AwardObjection).where(
        AwardObjection.notice_id == notice.id, AwardObjection.state == ObjectionState.OPEN.value))).scalar_one()
    if not is_final(notice.state, notice.ends_at, int(pending), now):
        return 0
    milestones = await milestones_of(uow, task.id)
    milestone = next(m for m in milestones if m.id == notice.milestone_id)
    rows = {s.id: s for s in (await uow.session.execute(select(Submission).where(
        col(Submission.id).in_(notice.chosen)).with_for_update())).scalars()}
    chosen = [rows[i] for i in notice.chosen if i in rows and rows[i].state == "submitted"]
    notice.state, notice.decided_at = NoticeState.FINAL.value, now
    winners = [s.id for s in chosen]
    uow.publish(ev.NoticeFinalised(notice_id=notice.id, task_id=task.id, milestone_id=milestone.id,
                                   winner_submission_ids=winners,
                                   dropped_submission_ids=[i for i in notice.chosen if i not in winners]),
                subject=task.id, actor=SYSTEM, partition_key=task.organisation_id or task.poster_id)
    slots = await round_prizes(uow, task, milestone)
    await award(uow, task, milestones, milestone, chosen, slots, notice.leftover, SYSTEM, now, False)
    await uow.commit()
    return 1


async def withdrawn_at(uow: UnitOfWork, milestone_id: str) -> datetime | None:
    """When the round's last notice was withdrawn (its selection window starts again then)."""
    return (await uow.session.execute(select(func.max(AwardNotice.decided_at)).where(
        AwardNotice.milestone_id == milestone_id, AwardNotice.state == NoticeState.WITHDRAWN.value))).scalar_one()
