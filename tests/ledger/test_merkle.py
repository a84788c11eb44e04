"""RFC 9162 trees from stored subtree hashes, against a tree computed from the leaves alone."""

import hashlib
import uuid

from hypothesis import given
from hypothesis import strategies as st

from app.ledger import merkle
from app.ledger.merkle_store import Growth


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 section 2.1.1."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = reference_root(leaves[:k]), reference_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def stored_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """What appending the leaves one by one stores."""
    nodes: dict[tuple[int, int], bytes] = {}
    for index, leaf in enumerate(leaves):
        for level, position in merkle.nodes_completed_by(index):
            if level == 0:
                nodes[(0, position)] = merkle.leaf_hash(leaf)
            else:
                left = nodes[(level - 1, 2 * position)]
                right = nodes[(level - 1, 2 * position + 1)]
                nodes[(level, position)] = merkle.node_hash(left, right)
    return nodes


leaf_lists = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70)


@given(leaf_lists)
def test_the_root_from_stored_nodes_is_the_rfc_root(leaves):
    nodes = stored_nodes(leaves)
    for size in range(1, len(leaves) + 1):
        assert merkle.root(size, lambda lv, ix: nodes[(lv, ix)]) == reference_root(leaves[:size])


@given(leaf_lists, st.data())
def test_inclusion_proofs_verify_and_only_for_their_leaf(leaves, data):
    nodes = stored_nodes(leaves)
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(index, size, lambda lv, ix: nodes[(lv, ix)])
    tree_root = reference_root(leaves[:size])
    leaf = merkle.leaf_hash(leaves[index])
    assert merkle.verify_inclusion(leaf, index, size, proof, tree_root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"x" * 32), index, size, proof, tree_root)


@given(leaf_lists, st.data())
def test_consistency_proofs_verify_and_catch_a_rewritten_history(leaves, data):
    nodes = stored_nodes(leaves)
    new_size = data.draw(st.integers(1, len(leaves)))
    old_size = data.draw(st.integers(1, new_size))
    proof = merkle.consistency_proof(old_size, new_size, lambda lv, ix: nodes[(lv, ix)])
    old_root, new_root = reference_root(leaves[:old_size]), reference_root(leaves[:new_size])
    assert merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
    forged = reference_root([b"y" * 32, *leaves[1:old_size]])
    assert not merkle.verify_consistency(old_size, new_size, forged, new_root, proof)


def reference_peaks(size: int) -> list[tuple[int, int]]:
    """The complete subtrees a tree of ``size`` leaves is made of, largest (leftmost) first,
    found by walking the leaves from the left."""
    found, start = [], 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            found.append((level, start >> level))
            start += 1 << level
    return found


@given(st.integers(min_value=0, max_value=5000))
def test_the_peaks_of_a_tree_are_the_aligned_complete_subtrees_covering_it(size):
    peaks = merkle.peaks(size)
    assert peaks == reference_peaks(size)
    start = 0
    for level, index in peaks:
        assert index * 2**level == start  # contiguous, left to right, aligned
        start += 2**level
    assert start == size
    assert [level for level, _ in peaks] == sorted({level for level, _ in peaks}, reverse=True)


@given(leaf_lists, st.integers(min_value=0, max_value=70))
def test_a_tree_grown_from_its_peaks_stores_the_nodes_of_the_whole_tree(leaves, split):
    """What an append relies on: from the peaks its chain head keeps, every node the later
    leaves complete is computed equal to the whole tree's, and so are the new peaks."""
    split = min(split, len(leaves))
    everything = stored_nodes(leaves)
    registrant_id = uuid.uuid4()
    growth = Growth(registrant_id, split, [everything[n].hex() for n in merkle.peaks(split)])
    for leaf in leaves[split:]:
        growth.add(leaf.hex())
    grown = {(int(str(row["level"])), int(str(row["index"]))): bytes.fromhex(str(row["hash"]))
             for row in growth.take_rows()}  # fmt: skip
    completed = {node for index in range(split, len(leaves))
                 for node in merkle.nodes_completed_by(index)}  # fmt: skip
    assert grown == {node: everything[node] for node in completed}
    assert growth.peaks() == [everything[n].hex() for n in merkle.peaks(len(leaves))]
