"""A black-listed solver takes on no new work (联合惩戒), over the service's HTTP API on a real database (SQLite
and PostgreSQL): no bid, no submission to a bounty, contest or piece-rate round, no direct hire accepted; each
403 names the action, the listing and how to object, and nothing is stored. Declining a hire and delivering work
assigned before the listing stay open; a removal (credit's next `listing.current`) lifts the refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from crowdsourcing import flows, handlers
from crowdsourcing.main import create_app
from crowdsourcing.settings import CrowdsourcingSettings

from services.crowdsourcing.tests.test_flows_with_database import DAY, POSTER, person, post, publish, run, task_of
from shared.auth import Principal, issue_token
from tests.support.listings import record_listing

JWT_SECRET = "crowdsourcing-http-tests-" + "s" * 16


@dataclass(frozen=True)
class Api:
    client: httpx.AsyncClient

    @staticmethod
    def as_(principal: Principal) -> dict[str, str]:
        token = issue_token(JWT_SECRET, "sizhong-gateway", principal.subject, principal.roles)
        return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def http(ctx: flows.Context) -> AsyncIterator[Api]:
    """The app built as at start, its state on the test's database, provider and clock (no relay or consumer)."""
    app = create_app(CrowdsourcingSettings(jwt_secret=JWT_SECRET))
    app.state.db, app.state.clock, app.state.payments = ctx.db, ctx.clock, ctx.payments
    app.state.relay = SimpleNamespace(wake=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crowdsourcing") as client:
        yield Api(client)


async def black_listed(ctx: flows.Context, solver: Principal, sequence: int = 1) -> str:
    """Credit's `listing.current` putting the solver on the black list, as the consumer applies it."""
    await record_listing(ctx.db, "crowdsourcing", solver.subject, sequence, black=True)
    return f"l-black-{solver.subject}-{sequence}"


async def taken_off(ctx: flows.Context, solver: Principal, sequence: int) -> None:
    await record_listing(ctx.db, "crowdsourcing", solver.subject, sequence)


def refused_for(response: httpx.Response, action: str, listing_id: str) -> None:
    """A joint punishment: 403 problem+json naming the action, the listing and how to object to it."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["rule"] == "blacklisted" and action in body["detail"], body
    assert (body["listing"]["id"], body["listing"]["tier"]) == (listing_id, "general"), body
    assert body["objection"] == {"service": "credit", "method": "POST", "path": f"/listings/{listing_id}/objections",
                                 "how": body["objection"]["how"]} and "10 working days" in body["objection"]["how"]


OPEN_ROUNDS = [("bounty", [600_000], {}), ("contest", [600_000], {}),
               ("piece_rate", [], {"piece_price_fen": 100_000, "piece_quantity": 3})]


@pytest.mark.parametrize(("mode", "amounts", "extra"), OPEN_ROUNDS, ids=[m for m, _, _ in OPEN_ROUNDS])
async def test_a_black_listed_solver_submits_to_no_open_round_until_taken_off(
        ctx: flows.Context, http: Api, mode: str, amounts: list[int], extra: dict[str, Any]) -> None:
    task = await publish(ctx, await post(ctx, mode, amounts, deadline=ctx.clock.now() + 5 * DAY, **extra))
    assert task.state == "open"
    solver = person(f"listed-{mode}", "solver")
    listing = await black_listed(ctx, solver)
    submissions, work = f"/tasks/{task.id}/submissions", {"content": f"{mode} entry"}

    refused_for(await http.client.post(submissions, headers=http.as_(solver), json=work),
                f"submitting to a {mode.replace('_', '-')} task ({task.id})", listing)
    assert (await http.client.get(submissions, headers=http.as_(POSTER))).json() == []  # nothing stored
    assert (await task_of(ctx, task.id)).state == "open"  # the refused entry did not start the round

    await taken_off(ctx, solver, 2)
    entered = await http.client.post(submissions, headers=http.as_(solver), json=work)
    assert entered.status_code == 201, entered.text
    assert entered.json()["solver_id"] == solver.subject


async def test_a_black_listed_solver_places_no_bid(ctx: flows.Context, http: Api) -> None:
    """The refusal the others follow, over the same API."""
    task = await publish(ctx, await post(ctx, "bid", [500_000], deadline=ctx.clock.now() + 2 * DAY))
    solver = person("listed-bidder", "solver")
    listing = await black_listed(ctx, solver)
    bid = {"price_fen": 450_000, "days": 10, "plan": "两周完成"}
    refused_for(await http.client.post(f"/tasks/{task.id}/bids", headers=http.as_(solver), json=bid), "bidding",
                listing)


async def test_a_black_listed_solver_accepts_no_direct_hire_but_declines_and_delivers_earlier_work(
        ctx: flows.Context, http: Api) -> None:
    solver = person("listed-hire", "solver")
    offered, declined, earlier = [await publish(ctx, await post(ctx, "direct_hire", [300_000],
                                                                solver_id=solver.subject)) for _ in range(3)]
    await run(ctx, handlers.answer_hire, solver, earlier.id, True, ctx.clock.now())  # before the listing
    listing = await black_listed(ctx, solver)
    as_solver = http.as_(solver)

    refused_for(await http.client.post(f"/tasks/{offered.id}/hire", headers=as_solver, json={"accept": True}),
                f"accepting a direct hire ({offered.id})", listing)
    assert ((await task_of(ctx, offered.id)).state, (await task_of(ctx, offered.id)).assignee_id) == ("open", None)
    no = await http.client.post(f"/tasks/{declined.id}/hire", headers=as_solver, json={"accept": False})
    assert no.status_code == 200 and (no.json()["state"], no.json()["reason"]) == ("cancelled", "solver_declined")
    delivered = await http.client.post(f"/tasks/{earlier.id}/submissions", headers=as_solver,
                                       json={"content": "assigned before the listing"})
    assert delivered.status_code == 201, delivered.text  # the poster is owed the work
    assert (await task_of(ctx, earlier.id)).state == "submitted"

    await taken_off(ctx, solver, 2)
    yes = await http.client.post(f"/tasks/{offered.id}/hire", headers=as_solver, json={"accept": True})
    assert yes.status_code == 200 and yes.json()["state"] == "in_progress", yes.text
