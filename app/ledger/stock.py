"""Stock on hand per location and lot, named: what ``GET /v1/ledger/balances`` answers and
the console's pages show."""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.catalog.names import Names
from app.ledger import balances
from app.ledger.schemas import BalanceOut, BalancesOut
from app.registry.service import get_registrant


async def on_hand(
    db: AsyncSession,
    principal: Principal,
    registrant_id: uuid.UUID,
    *,
    as_of: datetime | None = None,
    location_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
) -> BalancesOut:
    """Now (the balances kept with each append), or as of an instant (by ``occurred_at``)."""
    await get_registrant(db, registrant_id, principal=principal)
    filters = {"location_id": location_id, "lot_id": lot_id, "product_id": product_id}
    if as_of is None:
        rows = await balances.current(db, registrant_id=registrant_id, **filters)
        held = [(row.location_id, row.lot_id, row.product_id, row.quantity)
                for row in rows if row.quantity != 0]  # fmt: skip
    else:
        held = await balances.as_of(db, registrant_id=registrant_id, instant=as_of, **filters)
    names = await Names.load(db, principal, locations=[place for place, *_ in held],
                             lots=[lot for _, lot, *_ in held],
                             products=[product for _, _, product, _ in held])  # fmt: skip
    items = [
        BalanceOut(
            location_id=location, lot_id=lot, product_id=product, quantity=quantity,
            location=names.locations.get(location), lot=names.lots.get(lot),
            product=names.products.get(product),
        )
        for location, lot, product, quantity in held
    ]  # fmt: skip
    return BalancesOut(registrant_id=registrant_id, as_of=as_of, items=items)
