"""RFC 6962/9162 Merkle hashing, proofs and verification, against a direct reading of the RFC's definitions."""

from __future__ import annotations

import hashlib
import random

import pytest
from audit.domain.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def reference_mth(entries: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 6962 §2.1 writes it, recursing on the raw entries."""
    n = len(entries)
    if n == 0:
        return h(b"")
    if n == 1:
        return h(b"\x00" + entries[0])
    k = split(n)
    return h(b"\x01" + reference_mth(entries[:k]) + reference_mth(entries[k:]))


def reference_path(m: int, entries: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 6962 §2.1.1."""
    n = len(entries)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return [*reference_path(m, entries[:k]), reference_mth(entries[k:])]
    return [*reference_path(m - k, entries[k:]), reference_mth(entries[:k])]


def reference_subproof(m: int, entries: list[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 6962 §2.1.2."""
    n = len(entries)
    if m == n:
        return [] if complete else [reference_mth(entries)]
    k = split(n)
    if m <= k:
        return [*reference_subproof(m, entries[:k], complete), reference_mth(entries[k:])]
    return [*reference_subproof(m - k, entries[k:], False), reference_mth(entries[:k])]


def entries_of(n: int) -> list[bytes]:
    return [f"entry-{i}".encode() for i in range(n)]


def tree_of(n: int) -> MerkleTree:
    return MerkleTree(leaf_hash(e) for e in entries_of(n))


SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 31, 32, 33, 64, 100]


def test_prefixes_separate_leaves_from_nodes() -> None:
    assert leaf_hash(b"a") == h(b"\x00a")
    assert node_hash(b"l", b"r") == h(b"\x01lr")
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_known_answers_from_the_certificate_transparency_test_vectors() -> None:
    # The 8 leaves and roots used by the RFC 6962 reference implementations' tests (certificate-transparency-go).
    leaves = [bytes.fromhex(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f")]
    roots = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
             "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
             "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
             "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
             "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
             "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
             "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
    tree = MerkleTree(leaf_hash(leaf) for leaf in leaves)
    for size, root in enumerate(roots, 1):
        assert tree.root(size).hex() == root
        assert root_of([leaf_hash(leaf) for leaf in leaves[:size]]).hex() == root


@pytest.mark.parametrize("size", [0, *SIZES, 1000, 1025])
def test_roots_match_the_rfc_definition(size: int) -> None:
    entries = entries_of(size)
    expected = reference_mth(entries)
    assert root_of([leaf_hash(e) for e in entries]) == expected
    assert MerkleTree(leaf_hash(e) for e in entries).root() == expected


def test_every_earlier_root_from_one_tree_built_by_append_and_by_extend() -> None:
    entries = entries_of(70)
    one_by_one = MerkleTree()
    in_chunks = MerkleTree()
    rng = random.Random(7)
    position = 0
    while position < len(entries):
        step = rng.randint(1, 9)
        in_chunks.extend(leaf_hash(e) for e in entries[position:position + step])
        position += step
    for e in entries:
        one_by_one.append(leaf_hash(e))
    assert one_by_one.levels == in_chunks.levels
    for size in range(len(entries) + 1):
        assert one_by_one.root(size) == reference_mth(entries[:size])


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_match_the_rfc_and_verify(size: int) -> None:
    entries = entries_of(size)
    tree = tree_of(size)
    root = reference_mth(entries)
    for m in range(size):
        proof = tree.inclusion_proof(m, size)
        assert proof == reference_path(m, entries)
        assert verify_inclusion(m, size, leaf_hash(entries[m]), proof, root)


@pytest.mark.parametrize("second", SIZES)
def test_consistency_proofs_match_the_rfc_and_verify(second: int) -> None:
    entries = entries_of(second)
    tree = tree_of(second)
    for first in range(1, second):
        proof = tree.consistency_proof(first, second)
        assert proof == reference_subproof(first, entries, True)
        assert verify_consistency(first, second, reference_mth(entries[:first]), reference_mth(entries), proof)


def test_proofs_for_earlier_sizes_come_from_a_larger_tree() -> None:
    entries = entries_of(50)
    tree = tree_of(50)
    for size in (1, 7, 16, 33):
        for m in range(size):
            assert tree.inclusion_proof(m, size) == reference_path(m, entries[:size])
        for first in range(1, size):
            assert tree.consistency_proof(first, size) == reference_subproof(first, entries[:size], True)


def flips(proof: list[bytes]) -> list[list[bytes]]:
    """Every proof with exactly one bit flipped."""
    out = []
    for i, node in enumerate(proof):
        for bit in range(len(node) * 8):
            changed = bytearray(node)
            changed[bit // 8] ^= 1 << (bit % 8)
            out.append([*proof[:i], bytes(changed), *proof[i + 1:]])
    return out


@pytest.mark.parametrize("size", [2, 5, 8, 13, 33])
def test_inclusion_fails_on_any_bit_flip_or_wrong_index_size_leaf_or_length(size: int) -> None:
    tree = tree_of(size)
    bigger = tree_of(size + 2)
    root = tree.root()
    for m in range(size):
        leaf = tree.leaf(m)
        proof = tree.inclusion_proof(m, size)
        for bad in flips(proof):
            assert not verify_inclusion(m, size, leaf, bad, root)
        for other in range(size + 2):
            if other != m:
                assert not verify_inclusion(other, size, leaf, proof, root)
        for other_size in range(1, size + 3):
            if other_size != size:  # the signed root of that other size never matches
                assert not verify_inclusion(m, other_size, leaf, proof, bigger.root(other_size))
        assert not verify_inclusion(m, size, tree.leaf((m + 1) % size), proof, root)
        assert not verify_inclusion(m, size, leaf, proof, tree.root(size - 1))
        assert not verify_inclusion(m, size, leaf, [*proof, proof[-1] if proof else root], root)
        if proof:
            assert not verify_inclusion(m, size, leaf, proof[:-1], root)
            assert not verify_inclusion(m, size, leaf, proof[1:], root)
            assert not verify_inclusion(m, size, leaf, [proof[0][:31], *proof[1:]], root)
    assert not verify_inclusion(-1, size, tree.leaf(0), tree.inclusion_proof(0), root)


@pytest.mark.parametrize("second", [2, 3, 5, 8, 13, 17, 33])
def test_consistency_fails_on_any_bit_flip_or_wrong_sizes_roots_or_length(second: int) -> None:
    tree = tree_of(second)
    bigger = tree_of(second + 2)
    new_root = tree.root()
    for first in range(1, second):
        old_root = tree.root(first)
        proof = tree.consistency_proof(first, second)
        assert proof
        for bad in flips(proof):
            assert not verify_consistency(first, second, old_root, new_root, bad)
        for other in range(0, second + 3):  # with the roots of the sizes claimed
            if other != first:
                assert not verify_consistency(other, second, bigger.root(other), new_root, proof)
            if other != second and other >= first:
                assert not verify_consistency(first, other, old_root, bigger.root(other), proof)
        assert not verify_consistency(first, second, tree.root(first - 1), new_root, proof)
        assert not verify_consistency(first, second, old_root, tree.root(second - 1), proof)
        assert not verify_consistency(first, second, old_root, new_root, [])
        assert not verify_consistency(first, second, old_root, new_root, proof[:-1])
        assert not verify_consistency(first, second, old_root, new_root, proof[1:])
        assert not verify_consistency(first, second, old_root, new_root, [*proof, proof[-1]])
        assert not verify_consistency(second, first, new_root, old_root, proof)


def test_trivial_consistency_needs_an_empty_proof() -> None:
    tree = tree_of(5)
    assert tree.consistency_proof(0, 5) == [] and tree.consistency_proof(5, 5) == []
    assert verify_consistency(0, 5, EMPTY_ROOT, tree.root(), [])
    assert verify_consistency(5, 5, tree.root(), tree.root(), [])
    assert not verify_consistency(5, 5, tree.root(), tree.root(4), [])
    assert not verify_consistency(5, 5, tree.root(), tree.root(), [tree.root()])
    assert not verify_consistency(0, 5, tree.root(1), tree.root(), [])


def test_proofs_refuse_sizes_beyond_the_tree() -> None:
    tree = tree_of(5)
    for call in (lambda: tree.inclusion_proof(5, 5), lambda: tree.inclusion_proof(0, 6),
                 lambda: tree.consistency_proof(3, 6), lambda: tree.consistency_proof(4, 3), lambda: tree.root(6)):
        with pytest.raises(ProofError):
            call()


def test_any_change_changes_the_root() -> None:
    entries = entries_of(10)
    root = root_of([leaf_hash(e) for e in entries])
    swapped = [*entries[:3], entries[4], entries[3], *entries[5:]]
    assert root_of([leaf_hash(e) for e in swapped]) != root
    assert root_of([leaf_hash(e) for e in entries[:-1]]) != root
