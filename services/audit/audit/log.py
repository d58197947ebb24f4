"""The running log's state in this process: the signing key, the Merkle tree cache, and signing checkpoints.

The tree cache holds every complete subtree hash of the log (audit.domain.merkle.MerkleTree) and catches up
from the stored leaf hashes before each use, reading only the entries it has not seen; the log is append-only,
so what it holds never goes stale. Proofs and roots for any size up to the current one come from it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import stat
from datetime import datetime
from pathlib import Path

from sqlmodel import col, select

from audit.domain.checkpoint import CheckpointSigner, decode_seed
from audit.domain.merkle import MerkleTree
from audit.models import Checkpoint, LogEntry
from audit.settings import AuditSettings
from shared.db import Database

log = logging.getLogger(__name__)
KEY_FILE = "audit-signing-key"
SYNC_PAGE = 50_000


def load_signer(settings: AuditSettings) -> CheckpointSigner:
    """AUDIT_SIGNING_KEY when set; otherwise the key kept in VAR_DIR, generated (mode 0600) at first start."""
    if settings.audit_signing_key is not None:
        return CheckpointSigner(decode_seed(settings.audit_signing_key.get_secret_value()))
    path = Path(settings.var_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("audit signing key file was readable by others; restricting it to 0600",
                        extra={"path": str(path), "mode": oct(mode)})
            path.chmod(0o600)
        try:
            return CheckpointSigner(decode_seed(path.read_text()))
        except ValueError as exc:
            raise RuntimeError(f"{path}: the audit signing key {exc}") from None
    seed = CheckpointSigner.generate_seed()
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(base64.b64encode(seed).decode() + "\n")
    log.info("generated the audit signing key", extra={"path": str(path)})
    return CheckpointSigner(seed)


class LogTree:
    """The Merkle tree over the stored log, caught up on demand (one catch-up at a time)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tree = MerkleTree()
        self._lock = asyncio.Lock()

    async def synced(self) -> MerkleTree:
        async with self._lock, self.db.reading() as session:
            while True:
                start = self.tree.size
                rows = (await session.execute(
                    select(LogEntry.index, LogEntry.leaf_hash).where(col(LogEntry.index) >= start)
                    .order_by(col(LogEntry.index)).limit(SYNC_PAGE))).all()
                leaves: list[bytes] = []
                for index, hashed in rows:
                    if index != start + len(leaves):
                        break  # never expected (commits come in index order); stop at a hole rather than skip it
                    leaves.append(bytes.fromhex(hashed))
                self.tree.extend(leaves)
                if len(rows) < SYNC_PAGE or len(leaves) < len(rows):
                    return self.tree


async def sign_checkpoint(db: Database, tree: LogTree, signer: CheckpointSigner, now: datetime, *,
                          only_if_grown: bool) -> Checkpoint | None:
    """Sign (size, root, now) of the log as it stands. With only_if_grown (the periodic job), nothing is signed
    when the log has not grown since the last checkpoint (or is empty)."""
    for _ in range(3):
        merkle = await tree.synced()
        size = merkle.size
        async with db.writing() as session:
            last = (await session.execute(
                select(Checkpoint).order_by(col(Checkpoint.number).desc()).limit(1))).scalars().first()
            if last is not None and last.tree_size > size:
                continue  # another replica signed a bigger log meanwhile: catch up and try again
            if only_if_grown and (size == 0 or (last is not None and last.tree_size >= size)):
                return None
            signed = signer.sign(size, merkle.root(size), now)
            checkpoint = Checkpoint(
                number=0 if last is None else last.number + 1, tree_size=size, root_hash=signed.root_hash.hex(),
                timestamp=signed.timestamp, signed_at=now, signature=base64.b64encode(signed.signature).decode(),
                key_id=signed.key_id)
            session.add(checkpoint)
        return checkpoint
    raise RuntimeError("the log kept moving past this replica's view; try again")
