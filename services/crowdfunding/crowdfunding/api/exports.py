"""CSV exports: a backer's own pledges, and a campaign's fulfilment list for its founder (`backers.csv`).

Each export names its columns (an allow-list), so a field added to pledges appears in neither until someone decides
it belongs there. The founder's list carries what fulfilment needs, the fields of the founder's JSON view of the
pledges (`pledges.FulfilmentView`): the pledge and its backer's platform account id (how the founder reaches the
backer through the platform), the tier, the amount, the shipping region and fee, the state and its dates. Nothing
about how the backer paid (payment instrument, instrument hash, payment reference, decline reason, why a pledge was
cancelled) and no identity number: a verified backer's masked resident id is on the subject replica and stays there.
Names and postal addresses are not held by this service, so none are exported."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response
from sqlmodel import col, select

from crowdfunding.api.common import READ_OVERRIDE, load_campaign
from crowdfunding.api.pledges import FulfilmentView, Holder, fulfilment, with_tier_titles
from crowdfunding.models import Pledge
from shared.auth import CurrentPrincipal
from shared.service_app import ReadSessionDep
from shared.validation import ResourceId

router = APIRouter(tags=["exports"])
MAX_ROWS = 100_000

OWN_PLEDGE_COLUMNS = ("pledge_id", "campaign_id", "tier_id", "backer_id", "currency", "amount_fen",
                      "shipping_region", "shipping_fen", "state", "reason", "placed_at", "paid_at",
                      "delivery_confirmed_at")
# The founder's JSON view's fields (`pledges.FulfilmentView`), its `id` named `pledge_id`: one allow-list for both.
FULFILMENT_COLUMNS = ("pledge_id", *(name for name in FulfilmentView.model_fields if name != "id"))


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, datetime) else value


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([_cell(row[c]) for c in columns] for row in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


def _facts(pledge: Pledge) -> dict[str, Any]:
    return {**pledge.model_dump(), "pledge_id": pledge.id}


@router.get("/pledges/export.csv", response_class=Response)
async def export_my_pledges(session: ReadSessionDep, principal: Holder) -> Response:
    """The backer's own pledges, and only those."""
    rows = (await session.execute(select(Pledge).where(Pledge.backer_id == principal.subject)
                                  .order_by(col(Pledge.placed_at), col(Pledge.id)).limit(MAX_ROWS))).scalars().all()
    return _csv(OWN_PLEDGE_COLUMNS, [_facts(p) for p in rows], "my-pledges.csv")


@router.get("/campaigns/{campaign_id}/backers.csv", response_class=Response)
async def export_backers(campaign_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal) -> Response:
    """The founder's own campaign's pledges for fulfilment (module docstring), or a regulator or admin."""
    campaign = await load_campaign(session, campaign_id)
    if principal.subject != campaign.founder_id and not principal.has_any(*READ_OVERRIDE):
        raise HTTPException(403, "not the founder of this campaign")
    rows = [fulfilment(p, title) for p, title in await with_tier_titles(session, campaign_id, None, MAX_ROWS, 0)]
    return _csv(FULFILMENT_COLUMNS, [{**row.model_dump(), "pledge_id": row.id} for row in rows],
                f"backers-{campaign_id}.csv")
