"""Roots and RFC 9162 proofs of a registrant's tree, as the API shows them."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import FieldError, InvalidInput
from app.ledger import merkle
from app.ledger.merkle_store import compute
from app.ledger.models import ChainHead, LedgerEvent
from app.ledger.schemas import ConsistencyProofOut, InclusionProofOut


async def tree_size(session: AsyncSession, registrant_id: uuid.UUID) -> int:
    size = await session.scalar(
        select(ChainHead.sequence).where(ChainHead.registrant_id == registrant_id)
    )
    return int(size or 0)


def _bad_size(parameter: str, detail: str) -> InvalidInput:
    return InvalidInput(detail, errors=[FieldError(parameter=parameter, detail=detail)])


async def _checked_size(
    session: AsyncSession, registrant_id: uuid.UUID, requested: int | None, parameter: str
) -> int:
    current = await tree_size(session, registrant_id)
    size = current if requested is None else requested
    if not 0 < size <= current:
        raise _bad_size(parameter, f"the tree holds {current} events")
    return size


async def inclusion(
    session: AsyncSession, event: LedgerEvent, requested_size: int | None
) -> InclusionProofOut:
    size = await _checked_size(session, event.registrant_id, requested_size, "tree_size")
    index = event.sequence - 1
    if index >= size:
        raise _bad_size("tree_size", f"event {event.sequence} is not in a tree of {size}")
    path, root = await compute(
        session,
        event.registrant_id,
        lambda nodes: (merkle.inclusion_proof(index, size, nodes), merkle.root(size, nodes)),
    )
    return InclusionProofOut(
        registrant_id=event.registrant_id, event_id=event.id, leaf_index=index, tree_size=size,
        event_hash=event.hash, root_hash=root.hex(), audit_path=[p.hex() for p in path],
    )  # fmt: skip


async def consistency(
    session: AsyncSession, registrant_id: uuid.UUID, from_size: int, to_size: int | None
) -> ConsistencyProofOut:
    to = await _checked_size(session, registrant_id, to_size, "to")
    if not 0 < from_size <= to:
        raise _bad_size("from", f"from must be between 1 and {to}")
    proof, old_root, new_root = await compute(
        session,
        registrant_id,
        lambda nodes: (
            merkle.consistency_proof(from_size, to, nodes),
            merkle.root(from_size, nodes),
            merkle.root(to, nodes),
        ),
    )
    return ConsistencyProofOut(
        registrant_id=registrant_id, from_size=from_size, to_size=to, from_root=old_root.hex(),
        to_root=new_root.hex(), proof=[p.hex() for p in proof],
    )  # fmt: skip
