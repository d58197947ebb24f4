"""Disputes (维权): opened with evidence, negotiated, escalated to platform and third-party mediation, resolved
by splitting the milestone's escrow."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from crowdsourcing import contracts as ev
from crowdsourcing import escrow
from crowdsourcing.domain import dispute as dispute_rules
from crowdsourcing.domain.settlement import dispute_split
from crowdsourcing.domain.task import ASSIGNED_MODES, COMPETITIVE_MODES, TaskMode, step
from crowdsourcing.handlers.acceptance import _complete
from crowdsourcing.handlers.common import POLICY, S, _current, milestones_of, move, sha256, task_for_update
from crowdsourcing.handlers.funding import _refund_all
from crowdsourcing.handlers.roster import ensure_mediator
from crowdsourcing.handlers.submission_disputes import open_on_submission, resolve_on_submission, settle_split
from crowdsourcing.models import Dispute, DisputeEvidence, Submission
from shared.auth import Principal
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork

SUBMISSION_DISPUTE_MODES = COMPETITIVE_MODES | {TaskMode.PIECE_RATE}


async def _dispute_for_update(uow: UnitOfWork, dispute_id: str) -> Dispute:
    found = (await uow.session.execute(
        select(Dispute).where(Dispute.id == dispute_id).with_for_update())).scalars().first()
    if found is None:
        raise DomainError(404, f"dispute {dispute_id} not found", field="dispute_id")
    return found


def _party(principal: Principal, dispute: Dispute) -> str:
    if principal.subject == dispute.poster_id:
        return "poster"
    if principal.subject == dispute.solver_id:
        return "solver"
    raise DomainError(403, "only the parties to this dispute may do this", field="dispute_id")


def _add_evidence(uow: UnitOfWork, dispute: Dispute, party_id: str, text: str, now: datetime) -> DisputeEvidence:
    evidence = DisputeEvidence(id=new_id(), dispute_id=dispute.id, party_id=party_id, text=text, sha256=sha256(text),
                               added_at=now)
    uow.session.add(evidence)
    uow.publish(ev.DisputeEvidenceAdded(dispute_id=dispute.id, evidence_id=evidence.id, party_id=party_id,
                                        sha256=evidence.sha256),
                subject=dispute.id, actor=party_id, partition_key=dispute.task_id)
    return evidence


async def open_dispute(uow: UnitOfWork, principal: Principal, task_id: str, reason: str, evidence: str,
                       now: datetime, submission_id: str | None = None) -> Dispute:
    """Either side of assigned work (bid, direct hire) opens a dispute (维权) on the current milestone, with
    evidence: while it is in progress or awaiting a revision at any time (a solver who vanished after a revision
    request must not hold the escrow forever), and within the dispute window after a delivery that awaits
    acceptance (after it, auto-accept decides). On a bounty, contest or piece-rate task a dispute is about one
    submission (submission_disputes.py)."""
    task = await task_for_update(uow, task_id)
    if TaskMode(task.mode) in SUBMISSION_DISPUTE_MODES:
        dispute = await open_on_submission(uow, principal, task, submission_id, reason, now)
        _add_evidence(uow, dispute, principal.subject, evidence, now)
        await uow.commit()
        return dispute
    if submission_id is not None:
        raise DomainError(422, "a dispute about assigned work is about its current milestone, not a submission",
                          field="submission_id")
    if principal.subject not in (task.poster_id, task.assignee_id):
        raise DomainError(403, "only the poster or the assigned solver may open a dispute", field="task_id")
    if TaskMode(task.mode) not in ASSIGNED_MODES:
        raise DomainError(409, f"disputes are about assigned work; a {task.mode} task has none", field="task_id",
                          current_state=task.state)
    step(task.mode, task.state, S.DISPUTED)
    milestone = _current(await milestones_of(uow, task.id), task)
    delivered = (await uow.session.execute(select(Submission.submitted_at).where(
        Submission.milestone_id == milestone.id).order_by(col(Submission.submitted_at).desc()))).scalars().first()
    if task.state == S.SUBMITTED and delivered is not None and now > delivered + POLICY.dispute_window:
        raise DomainError(409, f"the dispute window ({POLICY.dispute_window.days} days after delivery) has closed",
                          field="task_id", current_state=task.state)
    pot = await escrow.escrow_of(uow, task, milestone)
    dispute = Dispute(id=new_id(), task_id=task.id, milestone_id=milestone.id, poster_id=task.poster_id,
                      solver_id=task.assignee_id or "", opened_by=principal.subject, reason=reason,
                      stage=dispute_rules.DisputeStage.NEGOTIATION.value, opened_at=now, updated_at=now)
    uow.session.add(dispute)
    await uow.session.flush()
    uow.publish(ev.DisputeOpened(dispute_id=dispute.id, task_id=task.id, milestone_id=milestone.id,
                                 poster_id=dispute.poster_id, solver_id=dispute.solver_id, opened_by=principal.subject,
                                 reason=reason, escrow_fen=pot.minor),
                subject=dispute.id, actor=principal.subject, partition_key=task.id)
    _add_evidence(uow, dispute, principal.subject, evidence, now)
    await move(uow, task, S.DISPUTED, principal.subject, now, dispute_id=dispute.id)
    await uow.commit()
    return dispute


async def add_evidence(uow: UnitOfWork, principal: Principal, dispute_id: str, text: str,
                       now: datetime) -> DisputeEvidence:
    dispute = await _dispute_for_update(uow, dispute_id)
    _party(principal, dispute)
    if dispute.stage == dispute_rules.DisputeStage.RESOLVED:
        raise DomainError(409, "the dispute is resolved", current_state=dispute.stage)
    evidence = _add_evidence(uow, dispute, principal.subject, text, now)
    dispute.updated_at = now
    await uow.commit()
    return evidence


async def propose(uow: UnitOfWork, principal: Principal, dispute_id: str, solver_share_percent: int,
                  now: datetime) -> Dispute:
    """Negotiation: each side proposes the solver's share; when both propose the same, it is settled."""
    dispute = await _dispute_for_update(uow, dispute_id)
    party = _party(principal, dispute)
    if dispute.stage != dispute_rules.DisputeStage.NEGOTIATION:
        raise DomainError(409, f"proposals are made in negotiation; the dispute is at {dispute.stage!r}",
                          current_state=dispute.stage, rule="illegal_transition")
    if party == "poster":
        dispute.poster_proposal = solver_share_percent
    else:
        dispute.solver_proposal = solver_share_percent
    dispute.updated_at = now
    uow.publish(ev.DisputeProposalMade(dispute_id=dispute.id, party_id=principal.subject,
                                       solver_share_percent=solver_share_percent),
                subject=dispute.id, actor=principal.subject, partition_key=dispute.task_id)
    if dispute.poster_proposal is not None and dispute.poster_proposal == dispute.solver_proposal:
        await _resolve(uow, dispute, solver_share_percent, "agreed in negotiation", principal.subject, now)
    await uow.commit()
    return dispute


async def escalate(uow: UnitOfWork, principal: Principal, dispute_id: str, third_party: str | None,
                   now: datetime) -> Dispute:
    """negotiation -> platform mediation (a party); platform -> third-party mediation (a party or the mediator)."""
    dispute = await _dispute_for_update(uow, dispute_id)
    if principal.subject != dispute.mediator_id:
        _party(principal, dispute)
    stage = dispute_rules.DisputeStage(dispute.stage)
    target = (dispute_rules.DisputeStage.PLATFORM_MEDIATION if stage is dispute_rules.DisputeStage.NEGOTIATION
              else dispute_rules.DisputeStage.THIRD_PARTY_MEDIATION)
    dispute_rules.step(stage, target)
    if target is dispute_rules.DisputeStage.THIRD_PARTY_MEDIATION:
        if not third_party:
            raise DomainError(422, "third-party mediation names the mediating body (调解组织)", field="third_party")
        dispute.third_party = third_party
    dispute.stage, dispute.updated_at = target.value, now
    uow.publish(ev.DisputeEscalated(dispute_id=dispute.id, from_stage=stage.value, to_stage=target.value,
                                    by=principal.subject, third_party=dispute.third_party),
                subject=dispute.id, actor=principal.subject, partition_key=dispute.task_id)
    await uow.commit()
    return dispute


async def assign_mediator(uow: UnitOfWork, principal: Principal, dispute_id: str, mediator_id: str,
                          now: datetime) -> Dispute:
    dispute = await _dispute_for_update(uow, dispute_id)
    if dispute.stage not in (dispute_rules.DisputeStage.PLATFORM_MEDIATION,
                             dispute_rules.DisputeStage.THIRD_PARTY_MEDIATION):
        raise DomainError(409, f"a mediator is assigned in mediation; the dispute is at {dispute.stage!r}",
                          current_state=dispute.stage, rule="illegal_transition")
    if mediator_id in (dispute.poster_id, dispute.solver_id):
        raise DomainError(422, "a party cannot mediate its own dispute", field="mediator_id")
    await ensure_mediator(uow, mediator_id)
    dispute.mediator_id, dispute.updated_at = mediator_id, now
    uow.publish(ev.DisputeMediatorAssigned(dispute_id=dispute.id, mediator_id=mediator_id),
                subject=dispute.id, actor=principal.subject, partition_key=dispute.task_id)
    await uow.commit()
    return dispute


async def resolve_dispute(uow: UnitOfWork, principal: Principal, dispute_id: str, solver_share_percent: int,
                          basis: str, now: datetime) -> Dispute:
    """The assigned mediator records the outcome (its own, or the third party's): the escrow is split."""
    dispute = await _dispute_for_update(uow, dispute_id)
    if principal.subject != dispute.mediator_id:
        raise DomainError(403, "only the mediator assigned to this dispute may resolve it", field="dispute_id")
    if dispute.stage == dispute_rules.DisputeStage.NEGOTIATION:
        dispute_rules.step(dispute.stage, dispute_rules.DisputeStage.PLATFORM_MEDIATION)
    await _resolve(uow, dispute, solver_share_percent, basis, principal.subject, now)
    await uow.commit()
    return dispute


async def _resolve(uow: UnitOfWork, dispute: Dispute, percent: int, basis: str, actor: str, now: datetime) -> None:
    if dispute.submission_id is not None:
        await resolve_on_submission(uow, dispute, percent, basis, actor, now)
        return
    dispute_rules.step(dispute.stage, dispute_rules.DisputeStage.RESOLVED)
    task = await task_for_update(uow, dispute.task_id)
    milestones = await milestones_of(uow, task.id)
    milestone = next(m for m in milestones if m.id == dispute.milestone_id)
    pot = await escrow.escrow_of(uow, task, milestone)
    solver_gross, poster_part = dispute_split(pot, percent)
    await settle_split(uow, task, milestone, dispute, solver_gross, poster_part, percent, basis, actor, now)
    milestone.state, milestone.settled_at = "settled", now
    for pending in (await uow.session.execute(select(Submission).where(
            Submission.milestone_id == milestone.id, Submission.state == "submitted"))).scalars():
        pending.state, pending.decided_at = "disputed", now
    await uow.session.flush()
    await _refund_all(uow, task, [m for m in milestones if m.seq > milestone.seq], "dispute_ended", actor, now)
    await _complete(uow, task, actor, now, settled_by_dispute=True)
