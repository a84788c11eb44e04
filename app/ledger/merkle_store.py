"""The stored subtree hashes of each registrant's Merkle tree, and roots and proofs from them."""

import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import String, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.ledger import merkle

T = TypeVar("T")


class MerkleNode(Base):
    """The hash of one complete subtree (append-only)."""

    __tablename__ = "ledger_merkle_nodes"

    registrant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True)
    index: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))


async def _fetch(
    session: AsyncSession, registrant_id: uuid.UUID, nodes: Iterable[merkle.Node]
) -> dict[merkle.Node, bytes]:
    """Stored nodes of a registrant's tree by (level, index), in one query; all must exist."""
    wanted = set(nodes)
    if not wanted:
        return {}
    key = tuple_(MerkleNode.level, MerkleNode.index)
    statement = select(MerkleNode.level, MerkleNode.index, MerkleNode.hash).where(
        MerkleNode.registrant_id == registrant_id, key.in_(wanted)
    )
    found = {
        (level, index): bytes.fromhex(h) for level, index, h in await session.execute(statement)
    }
    missing = wanted - found.keys()
    if missing:
        raise LookupError(f"Merkle nodes missing: {sorted(missing)[:5]}")
    return found


class Growth:
    """The leaves one transaction appends to a registrant's tree, hashed in memory.

    Starts from the peaks of the tree as it was (kept on its chain head); every node the new
    leaves complete is computed from those and from nodes completed before it.
    """

    def __init__(self, registrant_id: uuid.UUID, size: int, peaks: list[str]) -> None:
        self.registrant_id = registrant_id
        self.size = size
        self._known = dict(zip(merkle.peaks(size), map(bytes.fromhex, peaks), strict=True))
        self._rows: list[dict[str, object]] = []

    def add(self, event_hash: str) -> None:
        """Leaf ``size`` and every subtree it completes."""
        known = self._known
        for level, position in merkle.nodes_completed_by(self.size):
            if level == 0:
                value = merkle.leaf_hash(bytes.fromhex(event_hash))
            else:
                value = merkle.node_hash(
                    known[(level - 1, 2 * position)], known[(level - 1, 2 * position + 1)]
                )
            known[(level, position)] = value
            self._rows.append({"registrant_id": self.registrant_id, "level": level,
                               "index": position, "hash": value.hex()})  # fmt: skip
        self.size += 1

    def peaks(self) -> list[str]:
        """The hashes of the tree's peaks now, for its chain head."""
        return [self._known[node].hex() for node in merkle.peaks(self.size)]

    def take_rows(self) -> list[dict[str, object]]:
        """The rows of the nodes completed since the last call, for the caller to insert."""
        rows, self._rows = self._rows, []
        return rows


async def compute(
    session: AsyncSession, registrant_id: uuid.UUID, work: Callable[[merkle.NodeLookup], T]
) -> T:
    """Run ``work`` against the stored nodes, fetching what it reads in one query.

    A first pass only records which nodes ``work`` asks for; the second has them.
    """
    asked: set[merkle.Node] = set()

    def record(level: int, index: int) -> bytes:
        asked.add((level, index))
        return b"\x00" * 32

    work(record)
    nodes = await _fetch(session, registrant_id, asked)
    return work(lambda level, index: nodes[(level, index)])
