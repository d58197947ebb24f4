"""Reports: anyone who may see a task reports it or a submission; a reviewer decides."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from crowdsourcing import contracts as ev
from crowdsourcing.domain.task import ASSIGNED_MODES, TaskMode, TerminalReason
from crowdsourcing.handlers.common import S, _allowed, may_view, move, task_for_update
from crowdsourcing.handlers.funding import cancel_with_sub_tasks, contract_cancellation_blocker, lock_sub_tasks
from crowdsourcing.handlers.work import _submission_for_update
from crowdsourcing.models import Report, Submission, Task
from shared.auth import Principal
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork


async def file_report(uow: UnitOfWork, principal: Principal, task_id: str, submission_id: str | None, reason: str,
                      detail: str, now: datetime) -> Report:
    task = await uow.session.get(Task, task_id)
    if task is None or not may_view(principal, task):  # a task one may not see is not there to report
        raise DomainError(404, f"task {task_id} not found", field="task_id")
    if submission_id is not None:
        submission = await uow.session.get(Submission, submission_id)
        if submission is None or submission.task_id != task.id:
            raise DomainError(422, "the submission is not one of this task's", field="submission_id")
    report = Report(id=new_id(), task_id=task.id, submission_id=submission_id, reporter_id=principal.subject,
                    reason=reason, detail=detail, filed_at=now)
    uow.session.add(report)
    uow.publish(ev.ReportFiled(report_id=report.id, task_id=task.id, submission_id=submission_id,
                               reporter_id=principal.subject, reason=reason),
                subject=report.id, actor=principal.subject, partition_key=task.id)
    await uow.commit()
    return report


async def decide_report(uow: UnitOfWork, principal: Principal, report_id: str, upheld: bool, note: str,
                        now: datetime) -> Report:
    """A reviewer's decision. An upheld report disqualifies an undecided submission; spam upheld against a task
    that has not started cancels it (failed review) and refunds its escrow."""
    report = (await uow.session.execute(
        select(Report).where(Report.id == report_id).with_for_update())).scalars().first()
    if report is None:
        raise DomainError(404, f"report {report_id} not found", field="report_id")
    if report.reporter_id == principal.subject:
        raise DomainError(403, "a reviewer does not decide a report they filed", field="report_id")
    if report.state != "open":
        raise DomainError(409, f"the report is already {report.state}", current_state=report.state,
                          rule="illegal_transition")
    report.state, report.reviewer_id, report.note, report.decided_at = (
        "upheld" if upheld else "dismissed"), principal.subject, note, now
    uow.publish(ev.ReportDecided(report_id=report.id, task_id=report.task_id, submission_id=report.submission_id,
                                 reviewer_id=principal.subject, upheld=upheld, reason=report.reason, note=note),
                subject=report.id, actor=principal.subject, partition_key=report.task_id)
    if upheld and report.submission_id is not None:
        task, submission = await _submission_for_update(uow, report.submission_id)
        if submission.state in ("submitted", "revision_requested"):
            submission.state, submission.decided_at = "disqualified", now
            uow.publish(ev.SubmissionDisqualified(submission_id=submission.id, task_id=submission.task_id,
                                                  solver_id=submission.solver_id, report_id=report.id,
                                                  reason=report.reason),
                        subject=submission.task_id, actor=principal.subject, partition_key=submission.solver_id)
            if task.state == S.SUBMITTED and TaskMode(task.mode) in ASSIGNED_MODES:
                await move(uow, task, S.REVISION_REQUESTED, principal.subject, now)
    elif upheld and report.reason == "spam":
        await lock_sub_tasks(uow, report.task_id)  # sub-tasks before their contract, as a sub-task's step
        task = await task_for_update(uow, report.task_id)
        sub_tasks = await lock_sub_tasks(uow, task.id)
        if S.CANCELLED in _allowed(task) and contract_cancellation_blocker(task, sub_tasks,
                                                                           while_funding=True) is None:
            # a bid being funded included: what was charged is posted and refunded, and a charge still in
            # flight is refunded when its publication finds the task cancelled (finish_funding); a general
            # contract goes with its sub-tasks that have not started (contract_cancelled)
            await cancel_with_sub_tasks(uow, task, sub_tasks, TerminalReason.FAILED_REVIEW, principal.subject, now)
    await uow.commit()
    return report
