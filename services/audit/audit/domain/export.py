"""The export format (JSON lines, UTF-8), shared by GET /log/export and the offline verifier. Pure.

One JSON object per line, each with a "kind":
- {"kind": "entry", "index": 0, "leaf_hash": "<hex>", "entry": "<the canonical JSON text that was hashed>"}
  in index order; the leaf hash is SHA-256(0x00 || UTF-8 bytes of "entry").
- {"kind": "checkpoint", "number": 0, "tree_size": 1, "root_hash": "<hex>", "timestamp": "<RFC 3339>",
   "signature": "<base64 Ed25519>", "key_id": "<8 hex>"}, written right after the entry that completes its
  tree size (see audit.domain.checkpoint for the signed bytes).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from audit.domain.checkpoint import CheckpointSigner
from audit.domain.merkle import MerkleTree, leaf_hash

FORMAT = "sizhong-audit-export/1"


def entry_line(index: int, leaf_hash_hex: str, entry: str) -> str:
    return _line({"kind": "entry", "index": index, "leaf_hash": leaf_hash_hex, "entry": entry})


def checkpoint_line(number: int, tree_size: int, root_hash_hex: str, timestamp: str, signature_b64: str,
                    key_id: str) -> str:
    return _line({"kind": "checkpoint", "number": number, "tree_size": tree_size, "root_hash": root_hash_hex,
                  "timestamp": timestamp, "signature": signature_b64, "key_id": key_id})


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_export(entries: Iterable[str], signer: CheckpointSigner, checkpoint_sizes: Iterable[int],
                 start: datetime, seconds_apart: float = 10.0) -> Iterator[str]:
    """The lines of an export of `entries` with checkpoints signed at `checkpoint_sizes` (ascending) by `signer`,
    as the service writes them; for the verifier's tests and the benchmark."""
    tree = MerkleTree()
    sizes = sorted(set(checkpoint_sizes))
    pending = iter(sizes)
    next_size = next(pending, None)
    number = 0

    def checkpoints_at(size: int) -> Iterator[str]:
        nonlocal next_size, number
        while next_size is not None and next_size == size:
            signed = signer.sign(size, tree.root(size), start + timedelta(seconds=seconds_apart * number))
            yield checkpoint_line(number, size, signed.root_hash.hex(), signed.timestamp,
                                  base64.b64encode(signed.signature).decode(), signed.key_id)
            number += 1
            next_size = next(pending, None)

    yield from checkpoints_at(0)
    for index, entry in enumerate(entries):
        hashed = leaf_hash(entry.encode())
        tree.append(hashed)
        yield entry_line(index, hashed.hex(), entry)
        yield from checkpoints_at(index + 1)
