"""The stored subtree hashes of each registrant's Merkle tree, and roots and proofs from them."""

import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import String, and_, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, table_of
from app.ledger import merkle

T = TypeVar("T")


class MerkleNode(Base):
    """The hash of one complete subtree (append-only)."""

    __tablename__ = "ledger_merkle_nodes"

    registrant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True)
    index: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))


_INSERT_NODES = insert(table_of(MerkleNode))


async def _fetch(
    session: AsyncSession, registrant_id: uuid.UUID, nodes: Iterable[merkle.Node]
) -> dict[merkle.Node, bytes]:
    wanted = set(nodes)
    if not wanted:
        return {}
    statement = select(MerkleNode.level, MerkleNode.index, MerkleNode.hash).where(
        MerkleNode.registrant_id == registrant_id,
        or_(*(and_(MerkleNode.level == lv, MerkleNode.index == ix) for lv, ix in wanted)),
    )
    found = {(lv, ix): bytes.fromhex(h) for lv, ix, h in await session.execute(statement)}
    missing = wanted - found.keys()
    if missing:
        raise LookupError(f"Merkle nodes missing: {sorted(missing)[:5]}")
    return found


async def add_leaf(
    session: AsyncSession, *, registrant_id: uuid.UUID, index: int, event_hash: str
) -> None:
    """Store leaf ``index`` and every subtree it completes."""
    completed = merkle.nodes_completed_by(index)
    known = await _fetch(session, registrant_id, merkle.needed_for(completed))
    rows = []
    for level, position in completed:
        if level == 0:
            value = merkle.leaf_hash(bytes.fromhex(event_hash))
        else:
            value = merkle.node_hash(
                known[(level - 1, 2 * position)], known[(level - 1, 2 * position + 1)]
            )
        known[(level, position)] = value
        rows.append({"registrant_id": registrant_id, "level": level, "index": position,
                     "hash": value.hex()})  # fmt: skip
    await session.execute(_INSERT_NODES, rows)


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
