"""Audit routes for regulators and admins: log entries and the current Merkle root."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlmodel import select

from audit.domain.merkle import root_of
from audit.models import LogEntry
from shared.auth import require_roles
from shared.service_app import MAX_SEQUENCE, ReadSessionDep

router = APIRouter(tags=["audit"], dependencies=[require_roles("regulator", "admin")])


@router.get("/log/entries")
async def list_entries(
    session: ReadSessionDep,
    after_index: Annotated[int, Query(ge=-1, le=MAX_SEQUENCE)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    event_id: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(max_length=100)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    type: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    query = select(LogEntry).where(LogEntry.index > after_index)
    if event_id is not None:
        query = query.where(LogEntry.event_id == event_id)
    if source is not None:
        query = query.where(LogEntry.source == source)
    if subject is not None:
        query = query.where(LogEntry.subject == subject)
    if type is not None:
        query = query.where(LogEntry.type == type)
    entries = (await session.execute(query.order_by(LogEntry.index).limit(limit))).scalars().all()
    return {"entries": [e.model_dump(mode="json") for e in entries],
            "next_after_index": entries[-1].index if entries else after_index}


@router.get("/log/root")
async def current_root(session: ReadSessionDep) -> dict[str, Any]:
    """Tree size and RFC 6962 root over every entry so far."""
    hashes = (await session.execute(select(LogEntry.leaf_hash).order_by(LogEntry.index))).scalars().all()
    return {"tree_size": len(hashes), "root_hash": root_of([bytes.fromhex(h) for h in hashes]).hex()}
