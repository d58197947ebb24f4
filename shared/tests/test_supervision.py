"""shared.supervision on a real database (SQLite and PostgreSQL): an order sets the restriction and is confirmed in
the same transaction, the guard names the order and reason, a repeated order changes nothing, an older order
arriving late is confirmed as superseded, another service's target is left alone, and the service's own effect
runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import makerspace
import pytest

from shared.db import Database
from shared.envelope import CloudEvent
from shared.ids import new_id
from shared.migrations import upgrade_to_head
from shared.problems import DomainError
from shared.supervision import (
    SupervisionOrderIssued,
    confirming_services,
    ensure_not_suspended,
    supervision_subscription,
)
from shared.uow import UnitOfWork

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade_to_head(database, str(Path(makerspace.__file__).parent / "migrations"))
    try:
        yield database
    finally:
        await database.dispose()


def issued(number: int, action: str = "suspend", target_type: str = "space", target_id: str = "space-1",
           order_id: str | None = None) -> tuple[CloudEvent, SupervisionOrderIssued]:
    order = SupervisionOrderIssued(order_id=order_id or f"order-{number}", number=number, action=action,
                                   target_type=target_type, target_id=target_id, reason="消防检查",
                                   issued_by="regulator-1", issued_at=NOW)
    event = CloudEvent(id=new_id(), source="/sizhong/audit", type=order.event_type, time=NOW, subject=order.order_id,
                       data=order.model_dump(mode="json"), sequence=number, partitionkey=target_id, actor="regulator-1")
    return event, order


async def obey(db: Database, event: CloudEvent, order: SupervisionOrderIssued, effects: dict | None = None) -> list:
    subscription = supervision_subscription("makerspace", effects)
    async with UnitOfWork(db, "makerspace") as uow:
        await subscription.handler(uow, event, order)
        await uow.commit()
    return [(e.type, e.data) for e in uow.published]


async def guard(db: Database, target_type: str = "space", target_id: str = "space-1") -> None:
    async with db.reading() as session:
        await ensure_not_suspended(session, target_type, target_id)


async def test_an_order_is_obeyed_confirmed_guarded_and_not_applied_twice(db: Database) -> None:
    await guard(db)
    event, order = issued(1)
    [(kind, data)] = await obey(db, event, order)
    assert kind == "cn.sizhong.makerspace.supervision_order.confirmed.v1"
    assert data == {"order_id": "order-1", "target_type": "space", "target_id": "space-1", "action": "suspend",
                    "applied": True, "detail": ""}
    with pytest.raises(DomainError) as refused:
        await guard(db)
    assert refused.value.status == 423 and refused.value.extra["order_id"] == "order-1"
    assert "消防检查" in refused.value.detail
    await guard(db, target_id="space-2")
    again = CloudEvent.model_validate({**event.model_dump(), "id": new_id()})  # the same order from the feed
    assert await obey(db, again, order) == []

    resume_event, resume = issued(2, "resume")
    [(_, data)] = await obey(db, resume_event, resume)
    assert data["applied"] is True
    await guard(db)
    late_event, late = issued(1, order_id="order-0")  # an older order arriving after a newer one
    [(_, data)] = await obey(db, late_event, late)
    assert data["applied"] is False and "superseded" in data["detail"]
    await guard(db)


async def test_other_services_targets_are_left_alone_and_the_effect_runs(db: Database) -> None:
    event, order = issued(3, target_type="campaign", target_id="c-1")
    assert await obey(db, event, order) == []
    await guard(db, "campaign", "c-1")
    seen: list[str] = []

    async def effect(uow: UnitOfWork, order: SupervisionOrderIssued, event: CloudEvent) -> str:
        seen.append(order.order_id)
        return "space closed"

    event, order = issued(4, target_type="subject", target_id="person-1")
    [(_, data)] = await obey(db, event, order, {"subject": effect})
    assert seen == ["order-4"] and data["detail"] == "space closed"
    with pytest.raises(DomainError):
        await guard(db, "subject", "person-1")


def test_who_confirms_what() -> None:
    assert confirming_services("campaign") == ("crowdfunding",)
    assert confirming_services("subject") == ("crowdfunding", "crowdsourcing", "makerspace", "crowdsupport")
    assert confirming_services("programme") == ("crowdsupport",)
    assert confirming_services("programme", ("crowdfunding",)) == ("crowdsupport",)  # designated, even unwired
    assert confirming_services("subject", ("crowdfunding", "crowdsupport")) == ("crowdfunding", "crowdsupport")
