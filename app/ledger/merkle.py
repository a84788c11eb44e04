"""RFC 9162 Merkle trees over a registrant's events, from stored subtree hashes.

Leaf ``i`` is the 32-byte hash of the event with sequence ``i + 1``. The tree stores the hash of
every complete subtree as a node ``(level, index)`` covering leaves ``[index * 2**level,
(index + 1) * 2**level)``; any root or proof is then a combination of O(log n) stored nodes,
because RFC 9162 splits every range at the largest power of two below its size, so the left
part of each split is always a complete, aligned subtree.

Pure functions; storage is in :mod:`app.ledger.merkle_store`.
"""

import hashlib
from collections.abc import Callable

Node = tuple[int, int]
"""(level, index) of a complete subtree."""
NodeLookup = Callable[[int, int], bytes]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _complete(start: int, end: int) -> Node | None:
    """The stored node covering exactly ``[start, end)``, if that range is one."""
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        return size.bit_length() - 1, start // size
    return None


def subtree_hash(start: int, end: int, lookup: NodeLookup) -> bytes:
    """MTH(D[start:end]) from stored nodes."""
    node = _complete(start, end)
    if node is not None:
        return lookup(*node)
    k = _split(end - start)
    return node_hash(subtree_hash(start, start + k, lookup), subtree_hash(start + k, end, lookup))


def root(size: int, lookup: NodeLookup) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, lookup)


def inclusion_proof(index: int, size: int, lookup: NodeLookup) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError("index outside the tree")
    return _path(index, 0, size, lookup)


def _path(index: int, start: int, end: int, lookup: NodeLookup) -> list[bytes]:
    if end - start == 1:
        return []
    k = _split(end - start)
    if index < start + k:
        return [*_path(index, start, start + k, lookup), subtree_hash(start + k, end, lookup)]
    return [*_path(index, start + k, end, lookup), subtree_hash(start, start + k, lookup)]


def consistency_proof(old_size: int, new_size: int, lookup: NodeLookup) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 section 2.1.4.1."""
    if not 0 < old_size <= new_size:
        raise ValueError("need 0 < old_size <= new_size")
    return _subproof(old_size, 0, new_size, True, lookup)


def _subproof(m: int, start: int, end: int, whole: bool, lookup: NodeLookup) -> list[bytes]:
    size = end - start
    if m == size:
        return [] if whole else [subtree_hash(start, end, lookup)]
    k = _split(size)
    if m <= k:
        return [
            *_subproof(m, start, start + k, whole, lookup),
            subtree_hash(start + k, end, lookup),
        ]
    return [
        *_subproof(m - k, start + k, end, False, lookup),
        subtree_hash(start, start + k, lookup),
    ]


def nodes_completed_by(index: int) -> list[Node]:
    """The nodes above leaf ``index`` that its arrival completes (including the leaf itself)."""
    completed = [(0, index)]
    level = 0
    while index % 2 == 1:
        index //= 2
        level += 1
        completed.append((level, index))
    return completed


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: list[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2, for anyone holding a root."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: the new tree extends the old one, nothing rewritten."""
    if old_size == new_size:
        return old_root == new_root and not proof
    if old_size == 0 or old_size > new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def peaks(size: int) -> list[Node]:
    """The complete subtrees a tree of ``size`` leaves is made of, largest (leftmost) first:
    one per bit set in ``size``. Appending to the tree needs only these (and what it
    completes itself)."""
    return [(level, (size >> level) - 1)
            for level in reversed(range(size.bit_length())) if size >> level & 1]  # fmt: skip


class RunningRoot:
    """The RFC 9162 root of a growing list of leaves, from O(log n) complete subtrees."""

    def __init__(self, peaks: list[tuple[int, bytes]] | None = None) -> None:
        self.peaks: list[tuple[int, bytes]] = list(peaks or [])
        """(size, hash) of the complete subtrees so far, sizes strictly decreasing."""

    def add(self, leaf_data: bytes) -> None:
        self.push(1, leaf_hash(leaf_data))

    def push(self, size: int, value: bytes) -> None:
        """Append a complete subtree of ``size`` leaves (a power of two, at most the size of
        the last one pushed), merging equal neighbours as the tree does."""
        while self.peaks and self.peaks[-1][0] == size:
            left_size, left = self.peaks.pop()
            size, value = left_size + size, node_hash(left, value)
        self.peaks.append((size, value))

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        value = self.peaks[-1][1]
        for _, left in reversed(self.peaks[:-1]):
            value = node_hash(left, value)
        return value

    def extended(self, peaks: list[tuple[int, bytes]]) -> "RunningRoot":
        """A copy with ``peaks`` (smaller than every one here) pushed after these."""
        tree = RunningRoot(self.peaks)
        for size, value in peaks:
            tree.push(size, value)
        return tree
