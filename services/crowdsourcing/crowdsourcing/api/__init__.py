"""Crowdsourcing routes: parse, authorise by role (ownership is checked in the handlers against the rows they
lock), call one handler (or a flow, where the payment provider is involved), shape the response.

Routes that move money use `flows.Context` rather than the request-wide unit of work: the provider is called
between transactions, never inside one. Split by what they are about: `tasks`, `work` (bids, submissions,
winners), `notices` (public notice, objections, the mediator roster), `disputes`, `records` (ratings, reports,
payouts, the ledger); `common` holds the role aliases, field types and the task view.
"""

from fastapi import APIRouter

from crowdsourcing.api import disputes, notices, records, tasks, work

router = APIRouter()
for part in (tasks, work, notices, disputes, records):
    router.include_router(part.router)

__all__ = ["router"]
