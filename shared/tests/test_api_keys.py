"""The API-key replica every service keeps: resolution (hash, expiry, revocation, order of events) and the
generic subscription that leaves a service's own handlers and catch-all in place. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from gateway.contracts import ApiKeyIssued, ApiKeyRevoked, OrganisationRegistered

from shared.api_keys import remember_issued, remember_revoked, resolve_key, with_api_keys
from shared.consumer import Subscription, Subscriptions
from shared.db import Database
from shared.envelope import CloudEvent
from shared.ids import utcnow
from shared.uow import UnitOfWork

KEY_ID, SECRET = "0123456789abcdef", "s" * 43
PRESENTED = f"sz_{KEY_ID}_{SECRET}"


def issued(expires_in: timedelta = timedelta(days=1)) -> ApiKeyIssued:
    return ApiKeyIssued(key_id=KEY_ID, subject_id="regulator-9", roles=["regulator"],
                        secret_sha256=hashlib.sha256(SECRET.encode()).hexdigest(), expires_at=utcnow() + expires_in)


async def test_a_key_resolves_until_revoked(migrated_db: Database) -> None:
    async with UnitOfWork(migrated_db, "credit") as uow:
        await remember_issued(uow.session, "e1", issued())
        await uow.commit()
    async with migrated_db.reading() as session:
        holder = await resolve_key(session, PRESENTED, utcnow())
        assert holder is not None and holder.subject_id == "regulator-9" and holder.roles == {"regulator"}
        assert await resolve_key(session, f"sz_{KEY_ID}_{'t' * 43}", utcnow()) is None  # wrong secret
        assert await resolve_key(session, f"sz_fedcba9876543210_{SECRET}", utcnow()) is None  # unknown key
        assert await resolve_key(session, "not a key", utcnow()) is None
        assert await resolve_key(session, PRESENTED, utcnow() + timedelta(days=2)) is None  # expired
    async with UnitOfWork(migrated_db, "credit") as uow:
        await remember_revoked(uow.session, "e2", ApiKeyRevoked(key_id=KEY_ID, subject_id="regulator-9",
                                                                revoked_at=utcnow()))
        await uow.commit()
    async with migrated_db.reading() as session:
        assert await resolve_key(session, PRESENTED, utcnow()) is None


async def test_a_revocation_arriving_first_wins(migrated_db: Database) -> None:
    async with UnitOfWork(migrated_db, "credit") as uow:
        await remember_revoked(uow.session, "e2", ApiKeyRevoked(key_id=KEY_ID, subject_id="regulator-9",
                                                                revoked_at=utcnow()))
        await uow.commit()
    async with UnitOfWork(migrated_db, "credit") as uow:
        await remember_issued(uow.session, "e1", issued())
        await uow.commit()
    async with migrated_db.reading() as session:
        assert await resolve_key(session, PRESENTED, utcnow()) is None


def _event(data: Any) -> CloudEvent:
    return CloudEvent(id="e", source="/sizhong/gateway", type=data.event_type, time=utcnow(), subject="s",
                      data=data.model_dump(mode="json"), sequence=1, partitionkey="s", actor="a")


async def test_the_generic_subscription_keeps_the_services_own_handlers(migrated_db: Database) -> None:
    seen: list[str] = []

    async def own(_uow: UnitOfWork, event: CloudEvent, _data: Any) -> None:
        seen.append(f"own:{event.type}")

    async def catch_all(_uow: UnitOfWork, event: CloudEvent) -> None:
        seen.append(f"all:{event.type}")

    with_all = with_api_keys(Subscriptions(sources=("crowdfunding",), catch_all=catch_all))
    with_own = with_api_keys(Subscriptions(sources=("gateway",), handlers=(
        Subscription(OrganisationRegistered, own), Subscription(ApiKeyRevoked, own))))
    assert "gateway" in with_all.sources and with_own.sources == ("gateway",)
    assert {ApiKeyIssued.event_type, ApiKeyRevoked.event_type, OrganisationRegistered.event_type} <= set(
        with_own.by_type)
    revoked = ApiKeyRevoked(key_id=KEY_ID, subject_id="r", revoked_at=utcnow())
    async with UnitOfWork(migrated_db, "credit") as uow:
        for subscriptions in (with_all, with_own):
            sub = subscriptions.by_type[ApiKeyRevoked.event_type]
            await sub.handler(uow, _event(revoked), revoked)
        await uow.commit()
    assert seen == [f"all:{ApiKeyRevoked.event_type}", f"own:{ApiKeyRevoked.event_type}"]
