"""Crowdfunding obeys supervision orders: a campaign order also moves the campaign's state machine.

Suspend: a live (or waiting-funds) campaign becomes `suspended` (event campaign.suspended.v1); a campaign not
live yet keeps its state but cannot launch or take pledges while the restriction stands. Resume: a campaign
suspended is reinstated to `live`. Subject orders only set the restriction (checked by the commands).
"""

from __future__ import annotations

from crowdfunding.domain.campaign import LIVE_STATES
from crowdfunding.handlers.common import S, move
from crowdfunding.models import Campaign
from shared.consumer import Subscription
from shared.envelope import CloudEvent
from shared.supervision import SupervisionOrderIssued, supervision_subscription
from shared.uow import UnitOfWork


async def campaign_order(uow: UnitOfWork, order: SupervisionOrderIssued, event: CloudEvent) -> str:
    campaign = await uow.session.get(Campaign, order.target_id, with_for_update=True)
    if campaign is None:
        return "no such campaign here; the restriction is kept for it"
    actor, why = f"regulator:{order.issued_by}", f"supervision order {order.order_id}: {order.reason}"
    if order.action == "suspend" and campaign.state in LIVE_STATES:
        await move(uow, campaign, S.SUSPENDED, actor, why, event.time)
        return "campaign suspended"
    if order.action == "resume" and campaign.state == S.SUSPENDED:
        await move(uow, campaign, S.LIVE, actor, why, event.time)
        return "campaign reinstated"
    return f"campaign state {campaign.state} unchanged"


def supervision() -> Subscription:
    return supervision_subscription("crowdfunding", {"campaign": campaign_order})
