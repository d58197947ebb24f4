"""The founder's payout account in the campaign view: where the founder is paid, masked as the events mask it (last
four characters), and how it came to be there (the approved redirections of the founder's payouts, four eyes).

Who sees it: the campaign's own founder, and those who see every payout (reviewers, regulators, admins). Nobody else,
backers and the public included (live reward campaigns are browsable by anyone): for them it is None."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdfunding.domain.reissue import becomes_payout_account, mask_instrument
from crowdfunding.handlers.payouts import SEE_ALL_PAYOUTS
from crowdfunding.models import Campaign, ReissueRequest
from shared.auth import Principal


class Redirection(BaseModel):
    """A founder payout re-issued to another account, approved by a second reviewer: from then on the account."""

    request_id: str
    from_masked: str  # the instrument the declined payout was owed to
    to_masked: str
    requested_by: str
    approved_by: str | None
    approved_at: datetime | None


class PayoutAccountView(BaseModel):
    masked: str  # the current account, its last four characters shown
    changed_at: datetime | None  # None: the account the campaign was created with
    approved_by: str | None  # the second reviewer whose approval moved it there
    request_id: str | None  # the re-issue request that moved it there
    redirections: list[Redirection]  # newest first


def sees_payout_account(viewer: Principal | None, campaign: Campaign) -> bool:
    return viewer is not None and (viewer.subject == campaign.founder_id or viewer.has_any(*SEE_ALL_PAYOUTS))


async def payout_account_view(session: AsyncSession, campaign: Campaign) -> PayoutAccountView:
    approved = (await session.execute(select(ReissueRequest).where(
        ReissueRequest.campaign_id == campaign.id, ReissueRequest.state == "approved")
        .order_by(col(ReissueRequest.decided_at).desc(), col(ReissueRequest.requested_at).desc(),
                  col(ReissueRequest.id)))).scalars().all()
    return PayoutAccountView(
        masked=mask_instrument(campaign.payout_party), changed_at=campaign.payout_party_changed_at,
        approved_by=campaign.payout_party_approved_by, request_id=campaign.payout_party_request_id,
        redirections=[Redirection(request_id=r.id, from_masked=mask_instrument(r.from_party),
                                  to_masked=mask_instrument(r.party), requested_by=r.requested_by,
                                  approved_by=r.decided_by, approved_at=r.decided_at)
                      for r in approved if becomes_payout_account(r.kind)])
