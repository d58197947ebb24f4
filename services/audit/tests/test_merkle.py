"""RFC 6962 Merkle tree hashing against a direct reading of the RFC's definition."""

from __future__ import annotations

import hashlib

import pytest
from audit.domain.merkle import EMPTY_ROOT, leaf_hash, node_hash, root_of


def reference_mth(entries: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 6962 §2.1 writes it, recursing on the raw entries."""
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + reference_mth(entries[:k]) + reference_mth(entries[k:])).digest()


def test_prefixes_separate_leaves_from_nodes() -> None:
    assert leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
    assert node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 100])
def test_root_matches_the_rfc_definition(size: int) -> None:
    entries = [f"entry-{i}".encode() for i in range(size)]
    assert root_of([leaf_hash(e) for e in entries]) == reference_mth(entries)


def test_any_change_changes_the_root() -> None:
    entries = [f"entry-{i}".encode() for i in range(10)]
    root = root_of([leaf_hash(e) for e in entries])
    swapped = [*entries[:3], entries[4], entries[3], *entries[5:]]
    assert root_of([leaf_hash(e) for e in swapped]) != root
    assert root_of([leaf_hash(e) for e in entries[:-1]]) != root
