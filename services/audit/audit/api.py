"""Audit routes for regulators and admins: entries, roots, proofs, signed checkpoints and the export.

The public key that checks the checkpoints is open to anyone (GET /log/public-key).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func
from sqlmodel import col, select

from audit.domain.checkpoint import ORIGIN, CheckpointSigner, checkpoint_body
from audit.domain.export import FORMAT, checkpoint_line, entry_line
from audit.domain.merkle import MerkleTree
from audit.log import LogTree, sign_checkpoint
from audit.models import Checkpoint, LogEntry
from shared.auth import require_roles
from shared.problems import DomainError
from shared.service_app import MAX_SEQUENCE, Now, ReadSessionDep

router = APIRouter(tags=["audit"], dependencies=[require_roles("regulator", "admin")])
public_router = APIRouter(tags=["audit"])
EXPORT_PAGE = 1000
Size = Annotated[int, Query(ge=0, le=MAX_SEQUENCE + 1)]


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


async def _tree(request: Request) -> MerkleTree:
    log_tree: LogTree = request.app.state.log_tree
    return await log_tree.synced()


@router.get("/log/root")
async def current_root(request: Request) -> dict[str, Any]:
    """Tree size and RFC 6962 root over every entry so far (unsigned; see /log/checkpoints for signed ones)."""
    tree = await _tree(request)
    return {"tree_size": tree.size, "root_hash": tree.root().hex()}


@router.get("/log/proofs/inclusion")
async def inclusion_proof(
    request: Request,
    index: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="the entry's log index")],
    tree_size: Annotated[int | None, Query(ge=1, le=MAX_SEQUENCE + 1,
                                           description="default: the current size")] = None,
) -> dict[str, Any]:
    """RFC 9162 §2.1.3 audit path of the entry at `index` in the tree of `tree_size` entries."""
    tree = await _tree(request)
    size = tree.size if tree_size is None else tree_size
    if size > tree.size:
        raise DomainError(422, f"the log has {tree.size} entries", field="tree_size")
    if index >= size:
        raise DomainError(422, f"index must be below tree_size ({size})", field="index")
    return {"index": index, "tree_size": size, "leaf_hash": tree.leaf(index).hex(), "root_hash": tree.root(size).hex(),
            "audit_path": [node.hex() for node in tree.inclusion_proof(index, size)]}


@router.get("/log/proofs/consistency")
async def consistency_proof(
    request: Request,
    first: Annotated[int, Query(ge=0, le=MAX_SEQUENCE + 1)],
    second: Annotated[int, Query(ge=0, le=MAX_SEQUENCE + 1)],
) -> dict[str, Any]:
    """RFC 9162 §2.1.4 proof that the tree of `first` entries is a prefix of the tree of `second` entries."""
    tree = await _tree(request)
    if second > tree.size:
        raise DomainError(422, f"the log has {tree.size} entries", field="second")
    if first > second:
        raise DomainError(422, "first must not exceed second", field="first")
    return {"first": first, "second": second, "first_root": tree.root(first).hex(),
            "second_root": tree.root(second).hex(),
            "consistency_path": [node.hex() for node in tree.consistency_proof(first, second)]}


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    root = bytes.fromhex(checkpoint.root_hash)
    return {"number": checkpoint.number, "tree_size": checkpoint.tree_size, "root_hash": checkpoint.root_hash,
            "timestamp": checkpoint.timestamp, "signature": checkpoint.signature, "key_id": checkpoint.key_id,
            "signed_body": checkpoint_body(checkpoint.tree_size, root, checkpoint.timestamp).decode()}


@router.get("/log/checkpoints")
async def list_checkpoints(
    session: ReadSessionDep,
    after_number: Annotated[int, Query(ge=-1, le=MAX_SEQUENCE)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    rows = (await session.execute(select(Checkpoint).where(col(Checkpoint.number) > after_number)
                                  .order_by(col(Checkpoint.number)).limit(limit))).scalars().all()
    return {"checkpoints": [checkpoint_json(c) for c in rows],
            "next_after_number": rows[-1].number if rows else after_number}


@router.get("/log/checkpoints/latest")
async def latest_checkpoint(session: ReadSessionDep) -> dict[str, Any]:
    row = (await session.execute(select(Checkpoint).order_by(col(Checkpoint.number).desc()).limit(1))).scalars().first()
    if row is None:
        raise DomainError(404, "no checkpoint has been signed yet")
    return checkpoint_json(row)


@router.post("/log/checkpoints", status_code=201)
async def create_checkpoint(request: Request, now: Now) -> dict[str, Any]:
    """Sign a checkpoint of the log as it stands now (on demand; the job also signs every interval)."""
    state = request.app.state
    checkpoint = await sign_checkpoint(state.db, state.log_tree, state.signer, now, only_if_grown=False)
    assert checkpoint is not None
    return checkpoint_json(checkpoint)


@router.get("/log/export")
async def export(
    request: Request,
    after: Annotated[int, Query(ge=-1, le=MAX_SEQUENCE, description="export entries with index > after")] = -1,
    limit: Annotated[int | None, Query(ge=1, le=MAX_SEQUENCE, description="at most this many entries; "
                                       "default: all")] = None,
    signed_only: Annotated[bool, Query(description="stop at the latest checkpoint's tree size")] = False,
) -> StreamingResponse:
    """JSON lines (audit.domain.export): entries in index order, each checkpoint right after the entry that
    completes its tree size. A snapshot: entries appended while it streams are not in it. Pages (after, limit)
    concatenated in order make the whole export; a page holds the checkpoints its entries complete."""
    db = request.app.state.db
    async with db.reading() as session:
        highest = (await session.execute(select(func.max(LogEntry.index)))).scalar_one()
        size = 0 if highest is None else int(highest) + 1
        if signed_only:
            latest = (await session.execute(select(func.max(Checkpoint.tree_size)))).scalar_one()
            size = min(size, int(latest or 0))
    start = after + 1
    end = max(start, size if limit is None else min(size, start + limit))

    async def lines() -> AsyncIterator[bytes]:
        async with db.reading() as session:
            query = select(Checkpoint).where(col(Checkpoint.tree_size) <= end)
            query = query.where(col(Checkpoint.tree_size) >= start) if start == 0 else \
                query.where(col(Checkpoint.tree_size) > start)
            checkpoints = (await session.execute(query.order_by(col(Checkpoint.number)))).scalars().all()
            by_size: dict[int, list[Checkpoint]] = {}
            for checkpoint in checkpoints:
                by_size.setdefault(checkpoint.tree_size, []).append(checkpoint)

            def emit(tree_size: int) -> str:
                return "".join(checkpoint_line(c.number, c.tree_size, c.root_hash, c.timestamp, c.signature,
                                               c.key_id) for c in by_size.get(tree_size, ()))

            if start == 0:
                yield emit(0).encode()
            position = start
            while position < end:
                rows = (await session.execute(
                    select(LogEntry.index, LogEntry.leaf_hash, LogEntry.entry)
                    .where(col(LogEntry.index) >= position, col(LogEntry.index) < end)
                    .order_by(col(LogEntry.index)).limit(EXPORT_PAGE))).all()
                if not rows:
                    break
                chunk = [entry_line(index, hashed, entry) + emit(index + 1) for index, hashed, entry in rows]
                yield "".join(chunk).encode()
                position = rows[-1][0] + 1

    headers = {"X-Export-Format": FORMAT, "X-Export-Start": str(start), "X-Export-End": str(end),
               "Content-Disposition": f'attachment; filename="audit-{start}-{end}.jsonl"'}
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)


@public_router.get("/log/public-key")
async def public_key(request: Request) -> dict[str, Any]:
    """The Ed25519 key that signs checkpoints: raw 32 bytes as base64, and as PEM."""
    signer: CheckpointSigner = request.app.state.signer
    return {"algorithm": "Ed25519", "origin": ORIGIN, "key_id": signer.key_id,
            "public_key": base64.b64encode(signer.public_key).decode(), "public_key_pem": signer.public_key_pem,
            "signed_body": "sizhong-audit\\n<tree size>\\n<root hash, base64>\\n<time, RFC 3339 UTC>\\n"}
