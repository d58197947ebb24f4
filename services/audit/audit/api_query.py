"""The regulator query API: log entries by subject, source, type and time, with personal numbers masked;
paginated (after_index, limit) and exported as JSON lines or CSV, streamed.

Readers: regulators (and admins, for operations). The verifiable export with proofs is GET /log/export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Select
from sqlmodel import col, select

from audit.models import LogEntry
from shared.auth import require_roles
from shared.masking import mask_personal_numbers
from shared.problems import DomainError
from shared.service_app import MAX_SEQUENCE, ReadSessionDep

router = APIRouter(tags=["regulator query"], dependencies=[require_roles("regulator", "admin")])
PAGE = 1000
CSV_COLUMNS = ("index", "leaf_hash", "event_id", "source", "sequence", "type", "subject", "time", "actor",
               "data")


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise DomainError(422, f"{name} needs a timezone (RFC 3339, e.g. 2026-01-31T00:00:00+08:00)", field=name)
    return value


def filtered(source: str | None, type_: str | None, subject: str | None, since: datetime | None,
             until: datetime | None) -> Select[tuple[LogEntry]]:
    """Filters shared by the page and the export; times are checked (aware, from <= to) here."""
    _aware(since, "from")
    _aware(until, "to")
    if since is not None and until is not None and since > until:
        raise DomainError(422, "from must not be after to", field="from")
    query = select(LogEntry)
    if source is not None:
        query = query.where(LogEntry.source == (source if source.startswith("/") else f"/sizhong/{source}"))
    if type_ is not None:
        query = query.where(LogEntry.type == type_)
    if subject is not None:
        query = query.where(LogEntry.subject == subject)
    if since is not None:
        query = query.where(col(LogEntry.event_time) >= since)
    if until is not None:
        query = query.where(col(LogEntry.event_time) < until)
    return query


def masked(entry: LogEntry) -> dict[str, Any]:
    """The entry as a regulator reads it: its log position and hash, and the event with numbers masked."""
    event = mask_personal_numbers(json.loads(entry.entry))
    return {"index": entry.index, "leaf_hash": entry.leaf_hash, "appended_at": entry.appended_at.isoformat(),
            "event": event}


Source = Annotated[str | None, Query(max_length=100, pattern=r"^(/sizhong/)?[a-z]+$",
                                     description="a service name or /sizhong/<service>")]
Type = Annotated[str | None, Query(max_length=200)]
Subject = Annotated[str | None, Query(max_length=200)]
From = Annotated[datetime | None, Query(alias="from", description="event time >= this (RFC 3339 with zone)")]
To = Annotated[datetime | None, Query(alias="to", description="event time < this (RFC 3339 with zone)")]
AfterIndex = Annotated[int, Query(ge=-1, le=MAX_SEQUENCE)]


@router.get("/regulator/events")
async def search(session: ReadSessionDep, source: Source = None, type: Type = None, subject: Subject = None,
                 since: From = None, until: To = None, after_index: AfterIndex = -1,
                 limit: Annotated[int, Query(ge=1, le=PAGE)] = 100) -> dict[str, Any]:
    """A page of entries in log order; pass `next_after_index` as `after_index` for the next page."""
    query = filtered(source, type, subject, since, until).where(col(LogEntry.index) > after_index)
    rows = (await session.execute(query.order_by(col(LogEntry.index)).limit(limit))).scalars().all()
    return {"events": [masked(row) for row in rows],
            "next_after_index": rows[-1].index if rows else after_index, "more": len(rows) == limit}


def _csv_line(row: dict[str, Any]) -> str:
    out = io.StringIO()
    event = row["event"]
    csv.writer(out).writerow([row["index"], row["leaf_hash"], event.get("id"), event.get("source"),
                              event.get("sequence"), event.get("type"), event.get("subject"), event.get("time"),
                              event.get("actor"), json.dumps(event.get("data"), ensure_ascii=False,
                                                             sort_keys=True)])
    return out.getvalue()


@router.get("/regulator/events/export")
async def export(request: Request, format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
                 source: Source = None, type: Type = None, subject: Subject = None, since: From = None,
                 until: To = None, after_index: AfterIndex = -1) -> StreamingResponse:
    """Every matching entry (masked), streamed in pages: JSON lines, or CSV with a header row."""
    query = filtered(source, type, subject, since, until)
    db = request.app.state.db

    async def lines() -> AsyncIterator[bytes]:
        if format == "csv":
            yield (",".join(CSV_COLUMNS) + "\r\n").encode()
        position = after_index
        while True:
            async with db.reading() as session:
                rows = (await session.execute(query.where(col(LogEntry.index) > position)
                                              .order_by(col(LogEntry.index)).limit(PAGE))).scalars().all()
            if not rows:
                return
            shaped = [masked(row) for row in rows]
            if format == "csv":
                yield "".join(_csv_line(row) for row in shaped).encode()
            else:
                yield "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in shaped).encode()
            position = rows[-1].index

    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(lines(), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="audit-events.{format}"'})
