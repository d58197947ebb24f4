"""Organisations named by a founder or a backer, checked against the subject replica (unknown: 409 to retry, not let
through unchecked), and the reviewers' queue (red-listed subjects' campaigns first, unless one is black-listed), on
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from crowdfunding import flows
from crowdfunding.handlers import campaigns, placing

from shared.auth import Principal
from shared.ids import new_id, utcnow
from shared.listings import ListingReplica
from shared.problems import DomainError
from shared.replica import SubjectReplica
from tests.support.crowdfunding import DAY, FOUNDER, backer, live_campaign, organisation, run


def _draft(organisation_id: str | None) -> campaigns.CampaignInput:
    return campaigns.CampaignInput(kind="reward", funding_mode="all_or_nothing", title="智能台灯", summary="护眼",
                                   story="三年研发", industry="hardware", goal_fen=30_000, duration_days=30,
                                   organisation_id=organisation_id)


async def _registered(ctx: flows.Context, organisation_id: str, owner: str) -> None:
    """The gateway's organisation.registered event reaching the replica (late)."""
    async with ctx.db.writing() as session:
        session.add(SubjectReplica(subject_id=organisation_id, kind="organisation", name="示例科技", owner_id=owner,
                                   region_code="350100", registration_number_masked="9135****0Y43",
                                   registered_at=utcnow(), source_event_id=new_id()))


async def _refusal(ctx: flows.Context, command: object, *args: object) -> DomainError:
    with pytest.raises(DomainError) as refused:
        await run(ctx, command, *args)
    return refused.value


def _unknown(error: DomainError) -> bool:
    return (error.status, error.field, error.extra.get("rule")) == (409, "organisation_id", "organisation_unknown")


async def test_an_organisation_not_known_yet_is_refused_until_its_registration_arrives(ctx: flows.Context) -> None:
    now = ctx.clock.now()
    organisation = new_id()
    refused = await _refusal(ctx, campaigns.create_campaign, FOUNDER, _draft(organisation), now)
    assert _unknown(refused) and "retry" in refused.detail
    await _registered(ctx, organisation, FOUNDER.subject)  # the registration arrives: the retry passes
    created = await run(ctx, campaigns.create_campaign, FOUNDER, _draft(organisation), now)
    assert created.organisation_id == organisation
    stranger = Principal(subject="founder-2", roles=frozenset({"founder"}))
    assert (await _refusal(ctx, campaigns.create_campaign, stranger, _draft(organisation), now)).status == 403


async def test_an_edit_cannot_attach_an_unknown_or_anothers_organisation(ctx: flows.Context) -> None:
    now = ctx.clock.now()
    draft = await run(ctx, campaigns.create_campaign, FOUNDER, _draft(None), now)
    unknown = new_id()
    assert _unknown(await _refusal(ctx, campaigns.edit, FOUNDER, draft.id, {"organisation_id": unknown}, now))
    anothers = new_id()
    await _registered(ctx, anothers, "founder-2")
    refused = await _refusal(ctx, campaigns.edit, FOUNDER, draft.id, {"organisation_id": anothers}, now)
    assert (refused.status, refused.field) == (403, "organisation_id")
    mine = new_id()
    await _registered(ctx, mine, FOUNDER.subject)
    assert (await run(ctx, campaigns.edit, FOUNDER, draft.id, {"organisation_id": mine}, now)).organisation_id == mine


async def test_a_pledge_on_behalf_of_an_unknown_organisation_is_409_to_retry(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx)
    data = placing.PledgeInput(tier_id=tier, shipping_region="CN", organisation_id=new_id())
    assert _unknown(await _refusal(ctx, placing.place_reward_pledge, backer(1), campaign.id, data, ctx.clock.now()))


async def _listed(ctx: flows.Context, subject_id: str, *, red: bool = False, black: bool = False) -> None:
    """Credit's listing.current for the subject, as the replica keeps it."""
    async with ctx.db.writing() as session:
        row = await session.get(ListingReplica, subject_id) or ListingReplica(subject_id=subject_id,
                                                                              source_event_id=new_id())
        if red:
            row.red_listing_id, row.fast_track_review = new_id(), True
        if black:
            row.black_listing_id, row.black_tier, row.black_rule = new_id(), "severe", "fraud"
        session.add(row)


async def test_the_review_queue_fast_tracks_red_listed_founders_or_organisations_unless_one_is_black_listed(
        ctx: flows.Context) -> None:
    async def submitted(name: str, *, founder: str = "", org: str = "") -> str:
        """A campaign submitted a day after the previous one, by its own founder (and organisation)."""
        principal = Principal(subject=f"founder-{name}", roles=frozenset({"founder"}))
        org_id = await organisation(ctx, principal.subject)
        for subject, listing in ((principal.subject, founder), (org_id, org)):
            if listing == "red":
                await _listed(ctx, subject, red=True)
        ctx.clock.advance(DAY)  # type: ignore[attr-defined]
        draft = await run(ctx, campaigns.create_campaign, principal, _draft(org_id), ctx.clock.now())
        await run(ctx, campaigns.submit, principal, draft.id, ctx.clock.now())
        for subject, listing in ((principal.subject, founder), (org_id, org)):
            if listing == "black":  # listed after submission (a black-listed founder cannot submit)
                await _listed(ctx, subject, black=True)
        return str(draft.id)

    plain = await submitted("plain")
    red_founder_black_org = await submitted("b", founder="red", org="black")
    red_org = await submitted("c", org="red")
    red_founder = await submitted("d", founder="red")
    black_founder_red_org = await submitted("e", founder="black", org="red")
    async with ctx.db.reading() as session:
        queue = [(c.id, fast) for c, fast in await campaigns.review_queue(session, 50, 0)]
    assert queue == [(red_org, True), (red_founder, True), (plain, False), (red_founder_black_org, False),
                     (black_founder_red_org, False)]
