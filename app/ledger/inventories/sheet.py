"""The count sheet: what the ledger held at each location and lot at the inventory's instant,
read from the postings index by place and instant (as the inventory report reads it)."""

import uuid
from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Quantity
from app.ledger.models import Posting

Place = tuple[uuid.UUID, uuid.UUID]
"""A location and a lot."""


async def held_at(
    db: AsyncSession, registrant_id: uuid.UUID, locations: Collection[uuid.UUID], as_of: datetime
) -> dict[Place, tuple[uuid.UUID, Decimal]]:
    """Each place at ``locations`` holding stock at ``as_of``: its product and what it held."""
    total = func.sum(Posting.delta)
    result = await db.execute(
        select(Posting.location_id, Posting.lot_id, Posting.product_id,
               type_coerce(total, Quantity()))
        .where(Posting.registrant_id == registrant_id, Posting.location_id.in_(locations),
               Posting.occurred_at <= as_of)
        .group_by(Posting.location_id, Posting.lot_id, Posting.product_id)
        .having(total != 0)
    )  # fmt: skip
    return {(location, lot): (product, held) for location, lot, product, held in result}


async def held_at_place(db: AsyncSession, place: Place, as_of: datetime) -> Decimal:
    """What the ledger held at one place at ``as_of`` (zero where it never held the lot)."""
    location, lot = place
    held = await db.scalar(
        select(type_coerce(func.coalesce(func.sum(Posting.delta), 0), Quantity()))
        .where(Posting.location_id == location, Posting.lot_id == lot,
               Posting.occurred_at <= as_of)
    )  # fmt: skip
    return held or Decimal(0)
