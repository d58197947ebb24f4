"""Offline verifier of an audit export: `python -m audit.verify EXPORT_FILE --public-key KEY`.

Needs nothing but the export (GET /log/export, JSON lines, see audit.domain.export) and the log's Ed25519 public
key (GET /log/public-key: base64 of the raw 32 bytes, or PEM; given inline or as a file). It trusts neither the
leaf hashes nor the order written in the export:

1. every entry line: its position must be its index (else the entry there was removed or reordered), and
   SHA-256(0x00 || entry bytes) is recomputed and must equal the leaf hash written beside it (else altered);
2. every checkpoint: numbered without a hole, sizes and times never going back, signed by the given key
   (Ed25519 over the bytes of audit.domain.checkpoint.checkpoint_body);
3. the RFC 6962 root is recomputed from the recomputed leaf hashes for every checkpoint's tree size and must
   equal the signed root; a checkpoint beyond the end of the export means entries were removed at the end;
4. between consecutive checkpoints a consistency proof is built from the recomputed tree and verified step by
   step (RFC 9162 §2.1.4.2) against the two signed roots.

It reports the first entry that fails ("entry <index>: <what>") and exits 1; 0 when everything holds; 2 when
the input cannot be read. Entries after the last checkpoint are checked by 1 only, and are reported as not
covered by a signature. Where entry and leaf hash were rewritten together, only a checkpoint's root can tell:
the verifier then names the first entry after the last checkpoint that still holds, the earliest entry that
can have been changed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.domain.checkpoint import decode_public_key, key_id, verify_signature
from audit.domain.merkle import MerkleTree, verify_consistency


@dataclass(order=True)
class Problem:
    position: int  # the entry index the problem is about (sorts entry problems first by index)
    message: str = field(compare=False)


@dataclass(frozen=True)
class CheckpointLine:
    number: int
    tree_size: int
    root_hash: bytes
    timestamp: str
    signature: bytes
    key_id: str
    line: int


@dataclass
class Result:
    entries: int = 0
    checkpoints: int = 0
    covered: int = 0  # entries under the largest checkpoint that verified
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> str | None:
        return min(self.problems).message if self.problems else None


class UnreadableExport(Exception):
    pass


def _checkpoint_of(obj: dict[str, Any], line: int) -> CheckpointLine:
    try:
        root = bytes.fromhex(obj["root_hash"])
        signature = base64.b64decode(obj["signature"], validate=True)
        number, size = obj["number"], obj["tree_size"]
        if not (isinstance(number, int) and isinstance(size, int) and number >= 0 and size >= 0
                and len(root) == 32 and isinstance(obj["timestamp"], str) and isinstance(obj["key_id"], str)):
            raise ValueError
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise UnreadableExport(f"line {line}: a malformed checkpoint") from None
    return CheckpointLine(number, size, root, obj["timestamp"], signature, obj["key_id"], line)


def verify_lines(lines: Iterable[bytes], public_key: bytes) -> Result:
    started = time.perf_counter()
    result = Result()
    problems = result.problems
    sha256 = hashlib.sha256
    loads = json.loads
    leaves: list[bytes] = []
    indexes: list[int] = []
    broken: dict[int, str] = {}  # position -> what is wrong with the line itself (altered)
    checkpoints: list[CheckpointLine] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        position = len(leaves)
        try:
            obj = loads(raw)
            kind = obj["kind"]
        except (ValueError, KeyError, TypeError):
            if raw.lstrip().startswith(b'{"kind":"checkpoint"'):
                raise UnreadableExport(f"line {number}: a checkpoint that is not valid JSON") from None
            # an entry line that no longer parses: it was altered; it still occupies its position
            broken[position] = f"altered (line {number} is no longer valid JSON)"
            leaves.append(b"")
            indexes.append(position)
            continue
        if kind == "entry":
            entry, index, written = obj.get("entry"), obj.get("index"), obj.get("leaf_hash")
            if not isinstance(entry, str) or not isinstance(index, int) or not isinstance(written, str):
                broken[position] = f"altered (line {number} lacks its index, entry or leaf hash)"
                leaves.append(b"")
                indexes.append(position)
                continue
            leaf = sha256(b"\x00" + entry.encode()).digest()
            if leaf.hex() != written:
                broken[position] = f"altered (line {number}: its entry does not hash to its leaf hash)"
            leaves.append(leaf)
            indexes.append(index)
        elif kind == "checkpoint":
            checkpoints.append(_checkpoint_of(obj, number))
        else:
            raise UnreadableExport(f"line {number}: unknown kind {kind!r}")
    result.entries, result.checkpoints = len(leaves), len(checkpoints)

    # 1. order and content, entry by entry
    present = set(indexes)
    for position, index in enumerate(indexes):
        if position in broken:
            problems.append(Problem(position, f"entry {position}: {broken[position]}"))
            break
        if index != position:
            if position not in present:
                what = f"removed (the export goes from entry {position - 1} to entry {index})"
            elif index in indexes[:position]:
                what = f"reordered (a second copy of entry {index} is in its place)"
            else:
                what = f"reordered (entry {index} is in its place; entry {position} is elsewhere)"
            problems.append(Problem(position, f"entry {position}: {what}"))
            break

    # 2. the checkpoints themselves
    expected_key = key_id(public_key)
    checkpoints.sort(key=lambda c: c.number)
    trusted: list[CheckpointLine] = []
    for previous, checkpoint in zip([None, *checkpoints], checkpoints, strict=False):
        label = f"checkpoint {checkpoint.number} (line {checkpoint.line})"
        if previous is not None and checkpoint.number != previous.number + 1:
            what = "repeated" if checkpoint.number == previous.number else \
                f"missing (the export goes from checkpoint {previous.number} to {checkpoint.number})"
            problems.append(Problem(1 << 62, f"checkpoint {previous.number + 1}: {what}"))
        if checkpoint.key_id != expected_key:
            problems.append(Problem(1 << 62, f"{label}: signed by key {checkpoint.key_id}, not by the given key "
                                             f"{expected_key}"))
            continue
        if not verify_signature(public_key, checkpoint.tree_size, checkpoint.root_hash, checkpoint.timestamp,
                                checkpoint.signature):
            problems.append(Problem(1 << 62, f"{label}: the signature does not verify"))
            continue
        if trusted and (checkpoint.tree_size < trusted[-1].tree_size or checkpoint.timestamp < trusted[-1].timestamp):
            problems.append(Problem(1 << 62, f"{label}: goes back in size or time from checkpoint "
                                             f"{trusted[-1].number}"))
            continue
        trusted.append(checkpoint)
    if not checkpoints:
        problems.append(Problem(1 << 62, "export: no checkpoint, so nothing in it is signed"))

    # 3. and 4. the signed roots over the recomputed leaves, and consistency between consecutive checkpoints;
    # a root that fails where step 1 already named an entry below its size adds nothing more precise
    named = min((p.position for p in problems), default=1 << 62)
    tree = MerkleTree()
    tree.extend(leaves)
    good_size, good_root, good_number = 0, tree.root(0), None
    for checkpoint in trusted:
        if named < checkpoint.tree_size:
            break
        if checkpoint.tree_size > tree.size:
            problems.append(Problem(tree.size, f"entry {tree.size}: removed (checkpoint {checkpoint.number} signs "
                                               f"{checkpoint.tree_size} entries; the export ends after {tree.size})"))
            break
        if tree.root(checkpoint.tree_size) != checkpoint.root_hash:
            problems.append(Problem(good_size, (
                f"entry {good_size}: altered, removed or reordered at or after it: entries {good_size} to "
                f"{checkpoint.tree_size - 1} do not hash to the root signed in checkpoint {checkpoint.number}"
                + (f" (checkpoint {good_number} still holds)" if good_number is not None else ""))))
            break
        proof = tree.consistency_proof(good_size, checkpoint.tree_size)
        if not verify_consistency(good_size, checkpoint.tree_size, good_root, checkpoint.root_hash, proof):
            problems.append(Problem(good_size, f"entry {good_size}: checkpoint {checkpoint.number} is not "
                                               f"consistent with checkpoint {good_number}"))
            break
        good_size, good_root, good_number = checkpoint.tree_size, checkpoint.root_hash, checkpoint.number
    result.covered = good_size
    result.seconds = time.perf_counter() - started
    return result


def verify_file(path: Path, public_key: bytes) -> Result:
    with path.open("rb") as handle:
        return verify_lines(handle, public_key)


def _read_key(value: str) -> bytes:
    candidate = Path(value)
    text = candidate.read_text() if len(value) < 4096 and candidate.is_file() else value
    return decode_public_key(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit.verify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path, help="the export file (JSON lines from GET /log/export)")
    parser.add_argument("--public-key", required=True,
                        help="the log's Ed25519 public key: base64 of the raw 32 bytes or PEM, inline or a file")
    args = parser.parse_args(argv)
    try:
        key = _read_key(args.public_key)
    except (OSError, ValueError) as exc:
        print(f"error: --public-key: {exc}", file=sys.stderr)
        return 2
    try:
        result = verify_file(args.export, key)
    except (OSError, UnreadableExport) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not result.ok:
        print(f"FAIL {min(result.problems).message}")
        for problem in sorted(result.problems)[1:]:
            print(f"also: {problem.message}")
        return 1
    print(f"OK {result.entries} entries, {result.checkpoints} checkpoints: every leaf hash recomputed, every "
          f"checkpoint signature verified, roots recomputed and consistent up to {result.covered} entries "
          f"({result.seconds:.2f}s)")
    if result.covered < result.entries:
        print(f"note: entries {result.covered} to {result.entries - 1} come after the last checkpoint and are "
              f"not covered by a signature yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
