"""API keys for machine clients (a regulator's consumer), accepted by every service.

The gateway issues and revokes keys and publishes `identity.api_key.issued/revoked`; every service keeps this
replica of them from the events (subscribed generically by `shared.service_app`), so a key works against any
service without a call to the gateway, and a revocation reaches every service as fast as any event does.
Only the secret's SHA-256 is stored; the presented key is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from shared.consumer import CatchAllHandler, Handler, Subscription, Subscriptions
from shared.db import utc_column
from shared.envelope import CloudEvent, EventData
from shared.uow import UnitOfWork

if TYPE_CHECKING:
    from gateway.contracts import ApiKeyIssued, ApiKeyRevoked

KEY_FORMAT = re.compile(r"^sz_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{20,100})$")


class ApiKeyReplica(SQLModel, table=True):
    __tablename__ = "api_key_replica"

    key_id: str = Field(primary_key=True, max_length=16)
    subject_id: str = Field(max_length=64, index=True)
    roles: str = Field(max_length=500, description="space-separated role names")
    secret_sha256: str = Field(max_length=64)
    expires_at: datetime = Field(sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    source_event_id: str = Field(max_length=64)


@dataclass(frozen=True)
class KeyHolder:
    subject_id: str
    roles: frozenset[str]
    key_id: str


async def remember_issued(session: AsyncSession, event_id: str, data: ApiKeyIssued) -> None:
    """Upsert by key id; a revocation that arrived first stays revoked."""
    row = await session.get(ApiKeyReplica, data.key_id)
    if row is None:
        session.add(ApiKeyReplica(key_id=data.key_id, subject_id=data.subject_id, roles=" ".join(sorted(data.roles)),
                                  secret_sha256=data.secret_sha256, expires_at=data.expires_at,
                                  source_event_id=event_id))
    else:
        row.subject_id, row.roles = data.subject_id, " ".join(sorted(data.roles))
        row.secret_sha256, row.expires_at = data.secret_sha256, data.expires_at


async def remember_revoked(session: AsyncSession, event_id: str, data: ApiKeyRevoked) -> None:
    row = await session.get(ApiKeyReplica, data.key_id)
    if row is None:  # revoked before its issue event arrived here: a tombstone no secret can match
        session.add(ApiKeyReplica(key_id=data.key_id, subject_id=data.subject_id, roles="", secret_sha256="",
                                  expires_at=data.revoked_at, revoked_at=data.revoked_at, source_event_id=event_id))
    elif row.revoked_at is None:
        row.revoked_at = data.revoked_at


async def _on_issued(uow: UnitOfWork, event: CloudEvent, data: ApiKeyIssued) -> None:
    await remember_issued(uow.session, event.id, data)


async def _on_revoked(uow: UnitOfWork, event: CloudEvent, data: ApiKeyRevoked) -> None:
    await remember_revoked(uow.session, event.id, data)


def _composed(ours: Handler, theirs: Subscription | None, catch_all: CatchAllHandler | None) -> Handler:
    async def both(uow: UnitOfWork, event: CloudEvent, data: Any) -> None:
        await ours(uow, event, data)
        if theirs is not None:
            await theirs.handler(uow, event, data)
        elif catch_all is not None:
            await catch_all(uow, event)

    return both


def with_api_keys(subscriptions: Subscriptions) -> Subscriptions:
    """The service's own subscriptions plus the API-key replica, composed so that a service's own handler for
    the same type, or its catch-all (audit logs every event), still sees the events."""
    from gateway.contracts import ApiKeyIssued, ApiKeyRevoked

    handlers = {sub.event_model.event_type: sub for sub in subscriptions.handlers}
    ours: tuple[tuple[type[EventData], Handler], ...] = ((ApiKeyIssued, _on_issued), (ApiKeyRevoked, _on_revoked))
    for model, handler in ours:
        composed = _composed(handler, handlers.get(model.event_type), subscriptions.catch_all)
        handlers[model.event_type] = Subscription(model, composed)
    sources = subscriptions.sources if "gateway" in subscriptions.sources else (*subscriptions.sources, "gateway")
    return replace(subscriptions, sources=sources, handlers=tuple(handlers.values()))


def parse_key(presented: str) -> tuple[str, str] | None:
    match = KEY_FORMAT.fullmatch(presented.strip())
    return (match["key_id"], match["secret"]) if match else None


async def resolve_key(session: AsyncSession, presented: str, now: datetime) -> KeyHolder | None:
    """The key's holder when the key is known here, matches, is unexpired and unrevoked; else None."""
    parsed = parse_key(presented)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = await session.get(ApiKeyReplica, key_id)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    stored = row.secret_sha256 if row is not None and row.secret_sha256 else "0" * 64
    matches = hmac.compare_digest(digest, stored)  # compared even for an unknown key: same cost either way
    if row is None or not matches or row.revoked_at is not None or row.expires_at <= now:
        return None
    return KeyHolder(subject_id=row.subject_id, roles=frozenset(row.roles.split()), key_id=row.key_id)
