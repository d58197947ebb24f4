"""The append path, the tree cache, signed checkpoints and the signing key, on a real database (SQLite and
PostgreSQL)."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from audit.consumers import SUBSCRIPTIONS
from audit.domain.checkpoint import CheckpointSigner, verify_signature
from audit.domain.merkle import leaf_hash, root_of
from audit.handlers import append_to_log, canonical_entry
from audit.log import KEY_FILE, LogTree, load_signer, sign_checkpoint
from audit.models import Checkpoint, LogEntry
from audit.settings import AuditSettings
from pydantic import ValidationError
from sqlmodel import col, select

from shared.consumer import EventApplier
from shared.db import Database
from shared.envelope import CloudEvent
from shared.ids import new_id
from shared.uow import UnitOfWork

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SECRET = "s" * 40


def event(n: int, source: str = "gateway") -> CloudEvent:
    return CloudEvent(id=new_id(), source=f"/sizhong/{source}", type="cn.sizhong.identity.organisation.registered.v1",
                      time=NOW, subject=f"org-{n}", data={"n": n, "name": "示例"}, sequence=n + 1,
                      partitionkey=f"org-{n}", actor="tester")


async def stored(db: Database) -> list[LogEntry]:
    async with db.reading() as session:
        return list((await session.execute(select(LogEntry).order_by(col(LogEntry.index)))).scalars().all())


async def test_batches_append_in_order_with_contiguous_indexes_and_rollback_leaves_no_hole(db: Database) -> None:
    events = [event(n) for n in range(25)]
    for batch in (events[:10], events[10:11]):
        async with UnitOfWork(db, "audit") as uow:
            for e in batch:
                await append_to_log(uow, e)
            await uow.commit()
    async with UnitOfWork(db, "audit") as uow:  # rolled back: takes no index
        await append_to_log(uow, event(99))
    async with UnitOfWork(db, "audit") as uow:
        for e in events[11:]:
            await append_to_log(uow, e)
        await uow.commit()
    rows = await stored(db)
    assert [r.index for r in rows] == list(range(25))
    assert [r.event_id for r in rows] == [e.id for e in events]
    for row, e in zip(rows, events, strict=True):
        assert row.entry == canonical_entry(e)
        assert row.leaf_hash == leaf_hash(row.entry.encode()).hex()
        assert (row.source, row.sequence, row.subject) == (e.source, e.sequence, e.subject)


async def test_the_consumer_applies_a_fetch_in_one_transaction_and_skips_duplicates(db: Database) -> None:
    applier = EventApplier(db, "audit", "audit", SUBSCRIPTIONS)
    events = [event(n, "crowdfunding") for n in range(30)]
    assert all(await applier.apply_batch(events[:20]))
    assert await applier.apply_batch([events[5], *events[20:]]) == [False] + [True] * 10
    rows = await stored(db)
    assert [r.index for r in rows] == list(range(30))
    assert [r.event_id for r in rows] == [e.id for e in events]


async def test_tree_cache_and_signed_checkpoints(db: Database) -> None:
    tree = LogTree(db)
    signer = CheckpointSigner(bytes(32))
    assert await sign_checkpoint(db, tree, signer, NOW, only_if_grown=True) is None  # empty log: nothing to sign
    async with UnitOfWork(db, "audit") as uow:
        for n in range(7):
            await append_to_log(uow, event(n))
        await uow.commit()
    first = await sign_checkpoint(db, tree, signer, NOW, only_if_grown=True)
    assert first is not None and (first.number, first.tree_size) == (0, 7)
    assert await sign_checkpoint(db, tree, signer, NOW + timedelta(seconds=10), only_if_grown=True) is None
    on_demand = await sign_checkpoint(db, tree, signer, NOW + timedelta(seconds=11), only_if_grown=False)
    assert on_demand is not None and (on_demand.number, on_demand.tree_size) == (1, 7)
    async with UnitOfWork(db, "audit") as uow:
        for n in range(7, 12):
            await append_to_log(uow, event(n))
        await uow.commit()
    grown = await sign_checkpoint(db, tree, signer, NOW + timedelta(seconds=20), only_if_grown=True)
    assert grown is not None and (grown.number, grown.tree_size) == (2, 12)
    leaves = [bytes.fromhex(r.leaf_hash) for r in await stored(db)]
    assert (await tree.synced()).root() == root_of(leaves)
    async with db.reading() as session:
        checkpoints = (await session.execute(select(Checkpoint).order_by(col(Checkpoint.number)))).scalars().all()
    for checkpoint in checkpoints:
        assert checkpoint.root_hash == root_of(leaves[:checkpoint.tree_size]).hex()
        assert verify_signature(signer.public_key, checkpoint.tree_size, bytes.fromhex(checkpoint.root_hash),
                                checkpoint.timestamp, base64.b64decode(checkpoint.signature))
    assert checkpoints[0].timestamp == "2026-03-02T01:00:00.000000Z"


def test_the_signing_key_is_generated_once_with_0600_and_kept(tmp_path: Path) -> None:
    settings = AuditSettings(jwt_secret=SECRET, var_dir=tmp_path / "var")
    first = load_signer(settings)
    path = tmp_path / "var" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_signer(settings).public_key == first.public_key
    path.chmod(0o644)
    assert load_signer(settings).public_key == first.public_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_signing_key_from_settings_wins_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    seed = bytes(range(32))
    settings = AuditSettings(jwt_secret=SECRET, var_dir=tmp_path, audit_signing_key=base64.b64encode(seed).decode())
    assert load_signer(settings).public_key == CheckpointSigner(seed).public_key
    assert not (tmp_path / KEY_FILE).exists()
    for bad in ("not base64!", base64.b64encode(bytes(31)).decode()):
        with pytest.raises(ValidationError):
            AuditSettings(jwt_secret=SECRET, audit_signing_key=bad)
    with pytest.raises(ValidationError):
        AuditSettings(jwt_secret=SECRET, audit_checkpoint_interval_seconds=0)
