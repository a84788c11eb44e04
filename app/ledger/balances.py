"""Balances: changed with every posting by a conditional update, and computed as of any instant.

A removal is ``UPDATE ... SET quantity = quantity - q WHERE ... AND quantity >= q``: of two
concurrent writers that would together take a balance below zero, one updates no row and is
refused, without either reading the balance first.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Quantity, dialect_insert, table_of, where_given
from app.core.errors import Conflict
from app.ledger.models import Balance, Posting


class InsufficientStock(Conflict):
    slug = "insufficient-stock"
    title = "Insufficient stock"
    description = "The movement would take a balance below zero; record the missing receipt first."


_amount = bindparam("amount", type_=Quantity())
_TAKE = (
    update(table_of(Balance))
    .where(
        Balance.location_id == bindparam("take_location_id"),
        Balance.lot_id == bindparam("take_lot_id"),
        Balance.quantity >= _amount,
    )
    .values(quantity=Balance.quantity - _amount)
)
"""Built once, not per call (see app.ledger.service)."""


@dataclass(frozen=True, slots=True)
class Change:
    """A signed change to the balance of one (location, lot)."""

    location_id: uuid.UUID
    lot_id: uuid.UUID
    product_id: uuid.UUID
    delta: Decimal


async def apply(session: AsyncSession, *, registrant_id: uuid.UUID, changes: list[Change]) -> None:
    """Apply ``changes``, locking their rows in one global order (by location, then lot), so
    two movements touching the same rows in opposite orders never deadlock."""
    for change in sorted(changes, key=lambda c: (c.location_id.int, c.lot_id.int)):
        if change.delta < 0:
            await _take(session, change)
        elif change.delta > 0:
            await _add(session, registrant_id, change)


async def _take(session: AsyncSession, change: Change) -> None:
    result: Any = await session.execute(
        _TAKE,
        {
            "take_location_id": change.location_id,
            "take_lot_id": change.lot_id,
            "amount": -change.delta,
        },
    )
    if result.rowcount != 1:
        raise InsufficientStock(
            f"not enough of lot {change.lot_id} at location {change.location_id} "
            f"to take {-change.delta}"
        )


async def _add(session: AsyncSession, registrant_id: uuid.UUID, change: Change) -> None:
    insert = dialect_insert(session)(Balance).values(
        registrant_id=registrant_id,
        location_id=change.location_id,
        lot_id=change.lot_id,
        product_id=change.product_id,
        quantity=change.delta,
    )
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["location_id", "lot_id"],
            set_={"quantity": Balance.quantity + insert.excluded.quantity},
        )
    )


async def current(
    session: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    location_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
) -> list[Balance]:
    statement = select(Balance).where(Balance.registrant_id == registrant_id)
    statement = where_given(
        statement,
        (Balance.location_id, location_id),
        (Balance.lot_id, lot_id),
        (Balance.product_id, product_id),
    )
    statement = statement.order_by(Balance.location_id, Balance.lot_id)
    return list((await session.scalars(statement)).all())


async def as_of(
    session: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    instant: datetime,
    location_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, Decimal]]:
    """(location, lot, product, quantity) from the postings of events occurred by ``instant``."""
    total = func.sum(Posting.delta).label("quantity")
    statement = (
        select(Posting.location_id, Posting.lot_id, Posting.product_id, total)
        .where(Posting.registrant_id == registrant_id, Posting.occurred_at <= instant)
        .group_by(Posting.location_id, Posting.lot_id, Posting.product_id)
        .order_by(Posting.location_id, Posting.lot_id)
    )
    statement = where_given(
        statement,
        (Posting.location_id, location_id),
        (Posting.lot_id, lot_id),
        (Posting.product_id, product_id),
    )
    rows = (await session.execute(statement)).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows if row[3] != 0]
