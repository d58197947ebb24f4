"""RFC 6962/9162 Merkle tree hashing, proofs and proof verification. Pure: no I/O.

- Hashing: leaf prefix 0x00, node prefix 0x01 (RFC 9162 §2.1.1); the tree over n leaves splits at the
  largest power of two smaller than n.
- Proofs: inclusion (audit path, RFC 9162 §2.1.3.1 = RFC 6962 §2.1.1) and consistency (RFC 9162 §2.1.4.1 =
  RFC 6962 §2.1.2), made from a `MerkleTree` that keeps every complete subtree hash, so a root or a proof for
  any tree size up to the current one costs O(log n) node look-ups after O(n) appends.
- Verification: `verify_inclusion` and `verify_consistency` follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step,
  every node of the proof is used, and a proof with a node too many or too few fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof was asked for sizes or indexes the tree cannot answer."""


def leaf_hash(entry: bytes) -> bytes:
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, bottom up in O(n): pair neighbours level by level; an odd last node moves up
    unchanged, which builds exactly the RFC's left-balanced tree."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        paired = [_sha256(b"\x01" + left + right).digest() for left, right in zip(level[0::2], level[1::2],
                                                                                  strict=False)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class MerkleTree:
    """An append-only tree of leaf hashes that keeps every complete (perfect, aligned) subtree's hash:
    levels[h][i] is the hash of leaves [i * 2^h, (i + 1) * 2^h). Appending is amortised O(1); the root of
    any earlier size and any proof need only O(log n) of those hashes."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        self.extend(leaves)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: bytes) -> None:
        levels = self.levels
        levels[0].append(leaf)
        height = 0
        while len(levels[height]) % 2 == 0:
            below = levels[height]
            if height + 1 == len(levels):
                levels.append([])
            levels[height + 1].append(_sha256(b"\x01" + below[-2] + below[-1]).digest())
            height += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaves; builds each level with one pass (much faster than one append at a time)."""
        new = list(leaves)
        if not new:
            return
        levels = self.levels
        height = 0
        while new:
            level = levels[height]
            start = len(level)
            level.extend(new)
            # the complete pairs that the new nodes finished at this level, from the first unpaired one
            first = start - (start % 2)
            new = [_sha256(b"\x01" + left + right).digest()
                   for left, right in zip(level[first::2], level[first + 1::2], strict=False)]
            height += 1
            if new and height == len(levels):
                levels.append([])

    def leaf(self, index: int) -> bytes:
        return self.levels[0][index]

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a node of the RFC tree (start is a multiple of the smallest power of two
        >= end - start, which every node the proof algorithms visit satisfies)."""
        size = end - start
        if size <= 0:
            return EMPTY_ROOT
        if size & (size - 1) == 0:  # a perfect subtree: stored
            height = size.bit_length() - 1
            if start % size:
                raise ProofError(f"subtree [{start}, {end}) is not aligned")
            return self.levels[height][start >> height]
        k = _largest_power_of_two_below(size)
        return _sha256(b"\x01" + self.subtree(start, start + k) + self.subtree(start + k, end)).digest()

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        self._check_size(size, "tree_size")
        return self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(m, D[n]) of RFC 9162 §2.1.3.1, from the leaf's sibling up to the root's other child."""
        size = self.size if size is None else size
        self._check_size(size, "tree_size")
        if not 0 <= index < size:
            raise ProofError(f"index {index} is not in a tree of size {size}")
        path: list[bytes] = []
        start, end, m = 0, size, index
        while end - start > 1:  # descend; each level contributes the sibling subtree, so collect then reverse
            k = _largest_power_of_two_below(end - start)
            if m < k:
                path.append(self.subtree(start + k, end))
                end = start + k
            else:
                path.append(self.subtree(start, start + k))
                start, m = start + k, m - k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1; empty when m = 0 or m = n."""
        second = self.size if second is None else second
        self._check_size(second, "second")
        if not 0 <= first <= second:
            raise ProofError(f"first ({first}) must be between 0 and second ({second})")
        if first == 0 or first == second:
            return []
        proof: list[bytes] = []
        start, end, m, complete = 0, second, first, True
        while True:
            n = end - start
            if m == n:
                if not complete:
                    proof.append(self.subtree(start, end))
                break
            k = _largest_power_of_two_below(n)
            if m <= k:
                proof.append(self.subtree(start + k, end))
                end = start + k
            else:
                proof.append(self.subtree(start, start + k))
                start, m, complete = start + k, m - k, False
        proof.reverse()
        return proof

    def _check_size(self, size: int, name: str) -> None:
        if not 0 <= size <= self.size:
            raise ProofError(f"{name} {size} is beyond the tree's {self.size} leaves")


# --------------------------------------------------------------------------------------------- verification


def _valid_hashes(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2 steps 1-4 and the sn == 0 part of step 5: the root the proof leads to, or None
    when the proof is malformed for this index and size (too long, too short, or a node of the wrong length)."""
    if not 0 <= index < size or not _valid_hashes(leaf, *proof):
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return None  # a node too many
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None  # a node too few
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """True when `proof` shows the leaf hash `leaf` at `index` in the tree of `size` leaves with `root`."""
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    return computed is not None and _valid_hashes(root) and computed == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: True when `proof` shows the tree of `first` leaves with `first_root` is a prefix of the
    tree of `second` leaves with `second_root`. Trivial cases (first = 0, first = second) need an empty proof."""
    if not 0 <= first <= second or not _valid_hashes(first_root, second_root, *proof):
        return False
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False  # step 1
    path = list(proof)
    if first & (first - 1) == 0:  # step 2: first is an exact power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0  # step 7
