"""The pledge row of `make bench`: pledges per second on one worker beside a bare FastAPI endpoint, same run.

Both are FastAPI apps in this process, driven through httpx's ASGI transport by the same number of concurrent
clients (so neither pays for sockets and the comparison is of the work behind the route). The pledge route runs
the crowdfunding service's own command, `placing.place_reward_pledge`, in one UnitOfWork on a SQLite (WAL)
database migrated with the service's migrations: every check of a pledge, the conditional UPDATE taking a unit,
the pledge row, the custody ledger posting and the outbox row, in one transaction. The payment provider is not
called (that is its own transactions, outside the pledge's). Target: at least 0.35 of the bare endpoint's rate.

The two are measured in alternating rounds (bare, pledges, bare, pledges, ...) and each rate is the total over
its rounds, so load from other processes falls on both alike. Alone: `python -m bench.pledges [--pledges N]`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import crowdfunding
import httpx
from crowdfunding.handlers import campaigns, placing
from fastapi import FastAPI, Request

from shared.auth import Principal
from shared.db import Database
from shared.ids import new_id, utcnow
from shared.migrations import upgrade_to_head
from shared.replica import SubjectReplica
from shared.uow import UnitOfWork

TARGET = 0.35
CLIENTS = 16
ROUNDS = 4


@dataclass(frozen=True)
class PledgeBench:
    pledges: int
    seconds: float
    per_s: float
    bare_requests: int
    bare_seconds: float
    bare_per_s: float

    @property
    def ratio(self) -> float:
        return self.per_s / self.bare_per_s if self.bare_per_s else 0.0

    @property
    def passed(self) -> bool:
        return self.ratio >= TARGET


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/campaigns/{campaign_id}/pledges", status_code=201)
    async def bare(campaign_id: str, request: Request) -> dict[str, str]:
        body = await request.json()
        return {"id": new_id(), "campaign_id": campaign_id, "tier_id": str(body.get("tier_id"))}

    return app


async def _live_campaign(db: Database) -> tuple[str, str]:
    founder = Principal(subject="bench-founder", roles=frozenset({"founder"}))
    reviewer = Principal(subject="bench-reviewer", roles=frozenset({"reviewer"}))
    now = utcnow()
    organisation = new_id()
    async with db.writing() as session:
        session.add(SubjectReplica(subject_id=organisation, kind="organisation", name="bench", owner_id=founder.subject,
                                   region_code="110108", registration_number_masked="x", registered_at=now,
                                   source_event_id=new_id(), verified_at=now, verification_level="bench"))
    data = campaigns.CampaignInput(kind="reward", funding_mode="keep_it_all", title="bench", summary="s", story="s",
                                   industry="hardware", goal_fen=10**12, duration_days=60,
                                   organisation_id=organisation)
    async with UnitOfWork(db, "crowdfunding") as uow:
        campaign = await campaigns.create_campaign(uow, founder, data, now)
    async with UnitOfWork(db, "crowdfunding") as uow:
        tier = await campaigns.add_tier(uow, founder, campaign.id, campaigns.TierInput(
            "unit", "one", 10_000, None, now + timedelta(days=90), {}), now)
    for step in (lambda uow: campaigns.submit(uow, founder, campaign.id, now),
                 lambda uow: campaigns.review(uow, reviewer, campaign.id, "approve", "", now),
                 lambda uow: campaigns.launch(uow, founder, campaign.id, now)):
        async with UnitOfWork(db, "crowdfunding") as uow:
            await step(uow)
    return campaign.id, tier.id


def pledge_app(db: Database) -> FastAPI:
    app = FastAPI()

    @app.post("/campaigns/{campaign_id}/pledges", status_code=201)
    async def pledge(campaign_id: str, request: Request) -> dict[str, str]:
        body = await request.json()
        backer = Principal(subject=f"backer-{secrets.token_hex(6)}", roles=frozenset({"backer"}))
        async with UnitOfWork(db, "crowdfunding") as uow:
            placed = await placing.place_reward_pledge(uow, backer, campaign_id, placing.PledgeInput(
                tier_id=body["tier_id"]), utcnow())
        return {"id": placed.id, "campaign_id": campaign_id, "tier_id": placed.tier_id or ""}

    return app


async def _drive(app: FastAPI, path: str, body: dict[str, str], total: int) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(20):  # warm-up
            assert (await client.post(path, json=body)).status_code == 201
        counter = iter(range(total))

        async def worker() -> None:
            for _ in counter:
                response = await client.post(path, json=body)
                assert response.status_code == 201, response.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        return time.perf_counter() - started


async def measure(workdir: Path, total: int, rounds: int = ROUNDS) -> PledgeBench:
    db = Database(f"sqlite+aiosqlite:///{workdir}/bench-crowdfunding.db")
    per_round = max(1, total // rounds)
    bare_seconds = seconds = 0.0
    try:
        await upgrade_to_head(db, str(Path(crowdfunding.__file__).parent / "migrations"))
        campaign_id, tier_id = await _live_campaign(db)
        path, body = f"/campaigns/{campaign_id}/pledges", {"tier_id": tier_id}
        bare, pledging = bare_app(), pledge_app(db)
        for _ in range(rounds):
            bare_seconds += await _drive(bare, path, body, per_round)
            seconds += await _drive(pledging, path, body, per_round)
    finally:
        await db.dispose()
    done = per_round * rounds
    return PledgeBench(done, seconds, done / seconds, done, bare_seconds, done / bare_seconds)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m bench.pledges", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pledges", type=int, default=2000, help="pledges (and bare requests) in all")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="alternating rounds of each")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sizhong-bench-pledges-") as tmp:
        result = asyncio.run(measure(Path(tmp), args.pledges, args.rounds))
    print(f"pledges {result.per_s:,.0f}/s ({result.pledges:,} in {result.seconds:.2f}s); bare endpoint "
          f"{result.bare_per_s:,.0f}/s; ratio {result.ratio:.2f} (target >= {TARGET:.2f}: "
          f"{'PASS' if result.passed else 'FAIL'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
