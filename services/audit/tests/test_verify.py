"""The offline verifier on generated exports: an untouched export passes; one altered byte, one dropped entry,
two swapped entries, a truncated tail, a forged or foreign signature each fail, naming the right entry."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from audit.domain.checkpoint import CheckpointSigner
from audit.domain.export import write_export
from audit.domain.merkle import leaf_hash
from audit.verify import main, verify_lines

SIGNER = CheckpointSigner(bytes(range(32)))
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def entries(n: int) -> list[str]:
    return [json.dumps({"id": f"event-{i}", "source": "/sizhong/gateway", "sequence": i + 1, "data": {"名": "示例"}},
                       sort_keys=True, separators=(",", ":"), ensure_ascii=False) for i in range(n)]


def export(n: int = 40, sizes: tuple[int, ...] = (5, 16, 17, 33, 40)) -> list[bytes]:
    return [line.encode() for line in write_export(entries(n), SIGNER, sizes, START)]


def entry_positions(lines: list[bytes]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith(b'{"kind":"entry"')]


def first(lines: list[bytes]) -> str | None:
    return verify_lines(lines, SIGNER.public_key).first


def test_an_untouched_export_passes() -> None:
    result = verify_lines(export(), SIGNER.public_key)
    assert result.ok, result.problems
    assert (result.entries, result.checkpoints, result.covered) == (40, 5, 40)


@pytest.mark.parametrize("victim", [0, 4, 5, 20, 39])
def test_one_altered_byte_names_the_entry(victim: int) -> None:
    lines = export()
    at = entry_positions(lines)[victim]
    text = lines[at].decode()
    spot = text.index("event-") + 6
    lines[at] = (text[:spot] + "X" + text[spot + 1:]).encode()
    assert first(lines) == f"entry {victim}: altered (line {at + 1}: its entry does not hash to its leaf hash)"


def test_a_byte_that_breaks_the_json_still_names_the_entry() -> None:
    lines = export()
    at = entry_positions(lines)[7]
    lines[at] = lines[at].replace(b'"entry":"', b'"entry":', 1)
    assert (first(lines) or "").startswith("entry 7: altered")


def test_an_entry_altered_with_its_leaf_hash_is_caught_by_the_signed_root() -> None:
    lines = export()
    at = entry_positions(lines)[20]
    obj = json.loads(lines[at])
    obj["entry"] = obj["entry"].replace("示例", "伪造")
    obj["leaf_hash"] = leaf_hash(obj["entry"].encode()).hex()
    lines[at] = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    message = first(lines) or ""
    # checkpoints at 17 and 33 bracket it: the earliest entry that can have changed is 17
    assert message.startswith("entry 17: altered, removed or reordered"), message
    assert "checkpoint 3" in message


@pytest.mark.parametrize("victim", [0, 3, 16, 25])
def test_a_dropped_entry_is_named(victim: int) -> None:
    lines = export()
    del lines[entry_positions(lines)[victim]]
    assert (first(lines) or "").startswith(f"entry {victim}: removed")


def test_a_dropped_last_entry_is_named_by_the_checkpoint_that_signs_it() -> None:
    lines = export()
    del lines[entry_positions(lines)[39]]
    assert (first(lines) or "").startswith("entry 39: removed (checkpoint 4 signs 40 entries")


@pytest.mark.parametrize(("a", "b"), [(0, 1), (3, 30), (15, 16), (38, 39)])
def test_two_swapped_entries_are_named(a: int, b: int) -> None:
    lines = export()
    positions = entry_positions(lines)
    lines[positions[a]], lines[positions[b]] = lines[positions[b]], lines[positions[a]]
    assert (first(lines) or "").startswith(f"entry {a}: reordered (entry {b} is in its place")


def test_a_swap_with_renumbered_indexes_fails_at_the_signed_root() -> None:
    lines = export()
    positions = entry_positions(lines)
    one, two = json.loads(lines[positions[10]]), json.loads(lines[positions[11]])
    one["index"], two["index"] = 11, 10
    lines[positions[10]] = (json.dumps(two, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    lines[positions[11]] = (json.dumps(one, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    assert (first(lines) or "").startswith("entry 5: altered, removed or reordered")


def test_forged_signatures_foreign_keys_and_dropped_checkpoints_fail() -> None:
    lines = export()
    at = next(i for i, line in enumerate(lines) if b'"checkpoint"' in line)
    obj = json.loads(lines[at])
    signature = bytearray(base64.b64decode(obj["signature"]))
    signature[0] ^= 1
    forged = dict(obj, signature=base64.b64encode(bytes(signature)).decode())
    assert "the signature does not verify" in (first([*lines[:at], json.dumps(forged).encode(), *lines[at + 1:]])
                                               or "")
    moved = dict(obj, tree_size=obj["tree_size"] + 1)
    assert "the signature does not verify" in (first([*lines[:at], json.dumps(moved).encode(), *lines[at + 1:]])
                                               or "")
    other = CheckpointSigner(bytes(32))
    assert "not by the given key" in (verify_lines(lines, other.public_key).first or "")
    assert "checkpoint 0: missing" not in (first(lines[:at] + lines[at + 1:]) or "")
    later = [i for i, line in enumerate(lines) if b'"checkpoint"' in line][2]
    assert (first(lines[:later] + lines[later + 1:]) or "").startswith("checkpoint 2: missing")


def test_the_cli_exit_codes_and_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(export()))
    key = base64.b64encode(SIGNER.public_key).decode()
    assert main([str(path), "--public-key", key]) == 0
    assert capsys.readouterr().out.startswith("OK 40 entries, 5 checkpoints")
    pem = tmp_path / "key.pem"
    pem.write_text(SIGNER.public_key_pem)
    assert main([str(path), "--public-key", str(pem)]) == 0
    lines = export()
    del lines[entry_positions(lines)[12]]
    path.write_bytes(b"".join(lines))
    capsys.readouterr()
    assert main([str(path), "--public-key", key]) == 1
    assert capsys.readouterr().out.startswith("FAIL entry 12: removed")
    assert main([str(path), "--public-key", "not-a-key"]) == 2
    assert main([str(tmp_path / "missing.jsonl"), "--public-key", key]) == 2


def test_entries_after_the_last_checkpoint_are_reported_as_not_covered(capsys: pytest.CaptureFixture[str],
                                                                       tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(export(sizes=(5, 16))))
    assert main([str(path), "--public-key", base64.b64encode(SIGNER.public_key).decode()]) == 0
    assert "entries 16 to 39 come after the last checkpoint" in capsys.readouterr().out
