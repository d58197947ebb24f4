"""Issuing and revoking API keys: the gateway's own record, its local replica row (the gateway verifies keys
with the same shared code as every service) and the event every other service keeps its replica from."""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.contracts import ApiKeyIssued, ApiKeyRevoked
from gateway.domain import api_keys
from gateway.models import IssuedApiKey, Person
from shared.api_keys import remember_issued, remember_revoked
from shared.auth import Principal
from shared.problems import DomainError
from shared.uow import UnitOfWork


async def issue_key(uow: UnitOfWork, issuer: Principal, subject_id: str, roles: set[str] | None, label: str,
                    days: int, now: datetime) -> tuple[IssuedApiKey, str]:
    """Returns the record and the key as presented; the key is shown this once and never stored."""
    refusal = api_keys.may_issue(issuer.subject, issuer.roles, subject_id)
    if refusal is not None:
        raise DomainError(403, refusal)
    holder = await uow.session.get(Person, subject_id)
    if holder is None:
        raise DomainError(422, f"no person {subject_id}", field="subject_id")
    granted = api_keys.key_roles(roles, holder.role_set)
    if isinstance(granted, str):
        raise DomainError(422, granted, field="roles")
    new = api_keys.generate()
    record = IssuedApiKey(key_id=new.key_id, subject_id=subject_id, roles=" ".join(sorted(granted)),
                          secret_sha256=new.secret_sha256, label=label, issued_by=issuer.subject, created_at=now,
                          expires_at=now + timedelta(days=days))
    uow.session.add(record)
    event = ApiKeyIssued(key_id=new.key_id, subject_id=subject_id, roles=sorted(granted),
                         secret_sha256=new.secret_sha256, expires_at=record.expires_at)
    await remember_issued(uow.session, f"gateway:{new.key_id}", event)
    uow.publish(event, subject=new.key_id, actor=issuer.subject, partition_key=subject_id)
    await uow.commit()
    return record, new.presented


async def revoke_key(uow: UnitOfWork, principal: Principal, key_id: str, now: datetime) -> IssuedApiKey:
    record = await uow.session.get(IssuedApiKey, key_id)
    if record is None:
        raise DomainError(404, f"API key {key_id} not found")
    if record.subject_id != principal.subject and "admin" not in principal.roles:
        raise DomainError(403, "only the key's holder or an admin revokes it")
    if record.revoked_at is not None:
        raise DomainError(409, f"the key was revoked at {record.revoked_at.isoformat()}", state="revoked")
    record.revoked_at = now
    event = ApiKeyRevoked(key_id=key_id, subject_id=record.subject_id, revoked_at=now)
    await remember_revoked(uow.session, f"gateway:{key_id}:revoked", event)
    uow.publish(event, subject=key_id, actor=principal.subject, partition_key=record.subject_id)
    await uow.commit()
    return record
