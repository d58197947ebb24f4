"""Audit's regulator side on a real database (SQLite and PostgreSQL): statistics kept with the append (region from
the organisation's registration, day in Asia/Shanghai), supervision orders confirmed and flagged when late,
unfilled gaps recorded, reported once and closed when filled, and the stream message masked with its index."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from audit.domain.statistics import UNKNOWN_REGION, increments, local_day, success_rate
from audit.gaps import missing_runs, scan_gaps
from audit.handlers import append_to_log
from audit.main import create_app
from audit.models import SequenceGap, StatisticRow, SupervisionOrder
from audit.settings import AuditSettings
from audit.stream import stream_message
from audit.supervision import flag_overdue, issue_order
from sqlalchemy import text
from sqlmodel import select

from shared.auth import Principal, issue_token
from shared.db import Database
from shared.envelope import CloudEvent
from shared.ids import new_id
from shared.inbox import advance_progress
from shared.problems import DomainError
from shared.uow import UnitOfWork

NOW = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 01:30 on 2 March in Shanghai
REGULATOR = Principal(subject="regulator-1", roles=frozenset({"regulator"}))


def event(source: str, type_: str, data: dict[str, Any], sequence: int = 1, time: datetime = NOW) -> CloudEvent:
    return CloudEvent(id=new_id(), source=f"/sizhong/{source}", type=type_, time=time, subject=str(sequence),
                      data=data, sequence=sequence, partitionkey="k", actor="tester")


async def append(db: Database, *events: CloudEvent) -> list[CloudEvent]:
    async with UnitOfWork(db, "audit") as uow:
        for e in events:
            await append_to_log(uow, e)
        await uow.commit()
    return uow.published


def test_rules_days_and_rates() -> None:
    [inc] = increments("cn.sizhong.crowdfunding.pledge.paid.v1", {"campaign_id": "c", "amount_fen": 500})
    assert (inc.crowd, inc.metric, inc.key, inc.amount) == ("crowdfunding", "pledges_paid", "c", 500)
    assert increments("cn.sizhong.crowdfunding.pledge.paid.v1", {"amount_fen": True})[0].amount == 0
    assert increments("cn.sizhong.gateway.thing.done.v1", {}) == []
    [jobs] = increments("cn.sizhong.makerspace.application.outcome_reported.v1",
                        {"space_id": "s", "jobs_created": 9, "jobs_created_change": -2})
    assert (jobs.crowd, jobs.metric, jobs.key, jobs.amount) == ("makerspace", "jobs_created", "s", -2)
    assert local_day(NOW) == date(2026, 3, 2)
    assert success_rate(3, 1) == 0.75 and success_rate(0, 0) is None


def test_missing_runs() -> None:
    assert missing_runs(3, 10, [5, 6, 9, 10]) == [(4, 4), (7, 8)]
    assert missing_runs(0, 5, [5]) == [(1, 4)]
    assert missing_runs(2, 4, [3, 4]) == []


async def test_statistics_per_day_and_region_from_the_organisation(db: Database) -> None:
    await append(db,
                 event("gateway", "cn.sizhong.identity.organisation.registered.v1",
                       {"organisation_id": "org-1", "region_code": "440305"}),
                 event("crowdsourcing", "cn.sizhong.crowdsourcing.task.posted.v1",
                       {"task_id": "t-1", "organisation_id": "org-1", "budget_fen": 20_000}))
    await append(db,
                 event("crowdsourcing", "cn.sizhong.crowdsourcing.task.completed.v1", {"task_id": "t-1"}, 2),
                 event("crowdsourcing", "cn.sizhong.crowdsourcing.task.posted.v1",
                       {"task_id": "t-2", "organisation_id": None, "budget_fen": 5_000}, 3,
                       time=NOW - timedelta(hours=2)))  # 23:30 on 1 March in Shanghai
    async with db.reading() as session:
        rows = {(r.metric, r.day, r.region): (r.count, r.total)
                for r in (await session.execute(select(StatisticRow))).scalars()}
    assert rows == {("tasks_posted", date(2026, 3, 2), "440305"): (1, 20_000),
                    ("jobs_completed", date(2026, 3, 2), "440305"): (1, 0),
                    ("tasks_posted", date(2026, 3, 1), UNKNOWN_REGION): (1, 5_000)}


async def statistics_over_http(db: Database, principal: Principal, **query: str) -> httpx.Response:
    """GET /statistics on the audit app built as at start, its state pointed at `db` (no stream or jobs)."""
    settings = AuditSettings(jwt_secret="audit-http-tests-" + "j" * 24)
    app = create_app(settings)
    app.state.db = db
    token = issue_token(settings.jwt_secret, settings.jwt_issuer, principal.subject, principal.roles)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://audit") as client:
        return await client.get("/statistics", params=query, headers={"authorization": f"Bearer {token}"})


async def test_jobs_created_by_residents_are_counted_per_day_and_region(db: Database) -> None:
    """Outcome reports carry cumulative totals and the change since the last report; the change is what counts,
    so a correction downwards takes jobs off and nothing is counted twice."""
    ms = "cn.sizhong.makerspace"

    def outcome(space: str, total: int, change: int, sequence: int, time: datetime = NOW) -> CloudEvent:
        return event("makerspace", f"{ms}.application.outcome_reported.v1",
                     {"application_id": f"a-{space}", "space_id": space, "jobs_created": total,
                      "funding_raised_fen": 0, "currency": "CNY", "jobs_created_change": change}, sequence, time)

    await append(db,
                 event("makerspace", f"{ms}.space.registered.v1",
                       {"space_id": "s-sz", "region_code": "440305", "capacity": 40}, 1),
                 event("makerspace", f"{ms}.space.registered.v1",
                       {"space_id": "s-bj", "region_code": "110108", "capacity": 20}, 2),
                 outcome("s-sz", 4, 4, 3, NOW - timedelta(hours=2)))  # 23:30 on 1 March in Shanghai
    await append(db, outcome("s-sz", 11, 7, 4), outcome("s-sz", 9, -2, 5), outcome("s-bj", 3, 3, 6))
    window = {"from": "2026-03-01", "to": "2026-03-02", "crowd": "makerspace", "metric": "jobs_created"}

    response = await statistics_over_http(db, REGULATOR, **window)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rows"] == [
        {"crowd": "makerspace", "metric": "jobs_created", "day": "2026-03-01", "region": "440305", "count": 1,
         "total": 4},
        {"crowd": "makerspace", "metric": "jobs_created", "day": "2026-03-02", "region": "110108", "count": 1,
         "total": 3},
        {"crowd": "makerspace", "metric": "jobs_created", "day": "2026-03-02", "region": "440305", "count": 2,
         "total": 5}]
    assert body["totals"] == [{"crowd": "makerspace", "metric": "jobs_created", "count": 4, "total": 12}]

    city = (await statistics_over_http(db, REGULATOR, **window, region="4403")).json()
    assert city["totals"] == [{"crowd": "makerspace", "metric": "jobs_created", "count": 3, "total": 9}]
    everything = (await statistics_over_http(db, REGULATOR, **{"from": "2026-03-02", "to": "2026-03-02"})).json()
    assert {(t["metric"], t["total"]) for t in everything["totals"]} == {("spaces_registered", 60),
                                                                          ("jobs_created", 8)}
    resident = Principal(subject="resident-1", roles=frozenset({"resident", "space_operator"}))
    assert (await statistics_over_http(db, resident, **window)).status_code == 403


async def test_orders_are_confirmed_by_the_expected_services_and_flagged_when_late(db: Database) -> None:
    async with UnitOfWork(db, "audit") as uow:
        order = await issue_order(uow, REGULATOR, "suspend", "campaign", "c-1", "虚假宣传", NOW)
    [issued] = uow.published
    assert issued.type == "cn.sizhong.audit.supervision_order.issued.v1" and issued.data["number"] == 1
    with pytest.raises(DomainError) as twice:
        async with UnitOfWork(db, "audit") as uow:
            await issue_order(uow, REGULATOR, "suspend", "campaign", "c-1", "again", NOW)
    assert twice.value.status == 409
    async with UnitOfWork(db, "audit") as uow:
        late = await issue_order(uow, REGULATOR, "suspend", "subject", "p-1", "失信", NOW)
    confirmation = "cn.sizhong.{}.supervision_order.confirmed.v1"
    await append(db, event("crowdfunding", confirmation.format("crowdfunding"),
                           {"order_id": order.id, "applied": True, "detail": "campaign suspended"}, 10))
    await append(db, event("makerspace", confirmation.format("makerspace"), {"order_id": late.id, "applied": True}))
    async with UnitOfWork(db, "audit") as uow:
        assert await flag_overdue(uow, NOW + timedelta(seconds=59), timedelta(seconds=60)) == 0
    async with UnitOfWork(db, "audit") as uow:
        assert await flag_overdue(uow, NOW + timedelta(seconds=61), timedelta(seconds=60)) == 1
    [flag] = uow.published
    assert flag.data["order_id"] == late.id
    assert flag.data["missing"] == ["crowdfunding", "crowdsourcing", "crowdsupport"]
    async with UnitOfWork(db, "audit") as uow:
        assert await flag_overdue(uow, NOW + timedelta(seconds=120), timedelta(seconds=60)) == 0
    async with db.reading() as session:
        stored = {o.id: o for o in (await session.execute(select(SupervisionOrder))).scalars()}
    assert stored[order.id].confirmed_at is not None and stored[order.id].overdue_at is None
    assert stored[late.id].confirmed_at is None and stored[late.id].overdue_at is not None


async def _seen(db: Database, source: str, *sequences: int) -> None:
    async with UnitOfWork(db, "audit") as uow:
        for sequence in sequences:
            await uow.session.execute(text(
                "INSERT INTO inbox (consumer, event_id, source, sequence, type, outcome, handled_at) "
                "VALUES ('audit', :e, :s, :n, 't', 'applied', :at)"), {"e": new_id(), "s": source, "n": sequence,
                                                                       "at": NOW})
        await advance_progress(uow.session, "audit", source, list(sequences))
        await uow.commit()


async def test_a_gap_is_recorded_reported_once_and_closed_when_filled(db: Database) -> None:
    source = "/sizhong/crowdsupport"
    await _seen(db, source, 1, 2, 6)

    async def scan(at: datetime) -> list[CloudEvent]:
        async with UnitOfWork(db, "audit") as uow:
            await scan_gaps(uow, "audit", at, timedelta(seconds=30))
        return uow.published

    assert await scan(NOW) == []
    assert await scan(NOW + timedelta(seconds=10)) == []
    [unfilled] = await scan(NOW + timedelta(seconds=31))
    assert unfilled.type == "cn.sizhong.audit.gap.unfilled.v1"
    assert (unfilled.data["first_missing"], unfilled.data["last_missing"]) == (3, 5)
    assert await scan(NOW + timedelta(seconds=40)) == []  # once per gap
    await _seen(db, source, 3, 4, 5)
    [filled] = await scan(NOW + timedelta(seconds=50))
    assert filled.type == "cn.sizhong.audit.gap.filled.v1" and filled.data["first_missing"] == 3
    async with db.reading() as session:
        [gap] = (await session.execute(select(SequenceGap))).scalars().all()
    assert gap.filled_at is not None and gap.detected_at == NOW


def test_the_stream_message_is_masked_and_carries_the_index() -> None:
    original = event("crowdsupport", "cn.sizhong.crowdsupport.voucher.redeemed.v1",
                     {"provider_uscc": "91110108MA01ABCD1X", "id": "11010519491231002X"})
    key, value, message = stream_message(41, "ab" * 32, original.model_dump_json(), NOW.isoformat())
    body = json.loads(value)
    assert body == message and key == b"k"
    assert body["logindex"] == body["data"]["index"] == 41 and body["sequence"] == 42
    assert body["data"]["event"]["data"] == {"provider_uscc": "91110108******CD1X",
                                             "id": "110105********002X"}
    assert "11010519491231002X" not in value.decode()
