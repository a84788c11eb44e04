"""What an inventory looks like to whoever reads it: its sheet in order with names beside
every id, its list with each one's tally, and its history as steps a person reads. The API's
routes and the console's pages both answer with these."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.catalog.models import Product
from app.catalog.names import Names
from app.core.config import Settings
from app.core.revisions import history
from app.ledger.inventories import rules, service
from app.ledger.inventories.models import Inventory, InventoryEntry
from app.ledger.inventories.schemas import (
    EntryOut,
    InventoryOut,
    InventoryState,
    InventoryWithSheet,
)
from app.registry.models import Staff


async def with_sheet(
    session: AsyncSession, principal: Principal, inventory: Inventory, settings: Settings
) -> InventoryWithSheet:
    """The inventory and its count sheet, by location, product and lot."""
    entries = await service.entries_of(session, inventory)
    products = {p.id: p for p in await service.products_of(session, entries)}
    names = await _names(session, principal, [inventory], entries)
    lines = sorted(
        (_entry_out(entry, names, exact=service.exact_required(inventory,
                                                               products[entry.product_id]))
         for entry in entries),
        key=_sheet_order,
    )  # fmt: skip
    witness = rules.witness_required(entries, always=settings.inventory_witness_required)
    out = _out(inventory, names, len(rules.uncounted(entries)), witness_required=witness)
    return InventoryWithSheet(**out.model_dump(), entries=lines)


async def line(
    session: AsyncSession, principal: Principal, inventory: Inventory, entry: InventoryEntry
) -> EntryOut:
    """One line of the sheet, as a count answers it."""
    product = await session.get(Product, entry.product_id)
    assert product is not None  # the count read it
    names = await _names(session, principal, [inventory], [entry])
    return _entry_out(entry, names, exact=service.exact_required(inventory, product))


async def listed(
    session: AsyncSession, principal: Principal, found: Sequence[Inventory], settings: Settings
) -> list[InventoryOut]:
    """Each inventory with its tally (lines uncounted; whether a witness is required)."""
    tallies = await service.tallies(session, [inventory.id for inventory in found])
    names = await _names(session, principal, found, [])
    always = settings.inventory_witness_required
    items = []
    for inventory in found:
        tally = tallies.get(inventory.id, service.Tally())
        items.append(_out(inventory, names, tally.uncounted,
                          witness_required=always or tally.varied > 0))  # fmt: skip
    return items


async def open_first(
    session: AsyncSession,
    principal: Principal,
    registrant_id: uuid.UUID,
    settings: Settings,
    *,
    limit: int,
) -> list[InventoryOut]:
    """The registrant's inventories: those still open, then the signed and voided, each part
    newest first (at most ``limit``)."""
    still_open = case((Inventory.state == InventoryState.open.value, 0), else_=1)
    statement = (
        service.inventories_query(principal, registrant_id=registrant_id, state=None)
        .order_by(still_open, Inventory.created_at.desc(), Inventory.id)
        .limit(limit)
    )
    return await listed(session, principal, list(await session.scalars(statement)), settings)


@dataclass(frozen=True, slots=True)
class Step:
    """A step of an inventory's history, as a person reads it."""

    step: str
    at: datetime
    by: str
    what: str | None = None
    """A count's lot, place and number."""


async def steps(session: AsyncSession, principal: Principal, inventory: Inventory) -> list[Step]:
    """Every step taken, oldest first (a recount beside the count it replaced), by name."""
    revisions = await history(session, inventory)
    kept = [revision.data.get("entry") for revision in revisions]
    names = await Names.load(
        session, principal,
        locations=[uuid.UUID(e["location_id"]) for e in kept if e],
        lots=[uuid.UUID(e["lot_id"]) for e in kept if e],
    )  # fmt: skip
    people = await _people(session, inventory.registrant_id, {r.changed_by for r in revisions})
    return [
        Step(step=str(revision.data.get("step", "changed")), at=revision.changed_at,
             by=people.get(revision.changed_by, revision.changed_by),
             what=_counted(entry, names) if entry else None)
        for revision, entry in zip(revisions, kept, strict=True)
    ]  # fmt: skip


def _counted(entry: dict[str, Any], names: Names) -> str:
    lot = names.lots.get(uuid.UUID(entry["lot_id"]))
    place = names.locations.get(uuid.UUID(entry["location_id"]))
    return (f"lot {lot.lot_number if lot else entry['lot_id']} at "
            f"{place.name if place else entry['location_id']}: {entry['counted']} "
            f"({entry['exactness']})")  # fmt: skip


async def _people(
    session: AsyncSession, registrant_id: uuid.UUID, subjects: set[str]
) -> dict[str, str]:
    """The staff names of token subjects at the registrant (a step is kept by subject)."""
    rows = await session.execute(
        select(Staff.subject, Staff.name)
        .where(Staff.registrant_id == registrant_id, Staff.subject.in_(subjects))
    )  # fmt: skip
    return {subject: name for subject, name in rows if subject}


def _sheet_order(entry: EntryOut) -> tuple[str, str, str]:
    return (entry.location.name if entry.location else "",
            entry.product.name if entry.product else "",
            entry.lot.lot_number if entry.lot else "")  # fmt: skip


async def _names(
    session: AsyncSession,
    principal: Principal,
    inventories: Sequence[Inventory],
    entries: Sequence[InventoryEntry],
) -> Names:
    return await Names.load(
        session, principal,
        locations=[*(uuid.UUID(i) for inv in inventories for i in inv.location_ids),
                   *(e.location_id for e in entries)],
        lots=[e.lot_id for e in entries], products=[e.product_id for e in entries],
        staff=[*(s for inv in inventories for s in (inv.started_by, inv.signed_by,
                                                   inv.witness_id)),
               *(e.counted_by for e in entries)],
    )  # fmt: skip


def _out(
    inventory: Inventory, names: Names, uncounted: int, *, witness_required: bool
) -> InventoryOut:
    locations = [uuid.UUID(i) for i in inventory.location_ids]
    return InventoryOut(
        id=inventory.id, registrant_id=inventory.registrant_id, kind=inventory.kind,
        as_of=inventory.as_of, taken_at=inventory.taken_at, location_ids=locations,
        state=inventory.state, exact_required=inventory.exact_required,
        witness_required=witness_required,
        started_by=inventory.started_by, signed_by=inventory.signed_by,
        signed_at=inventory.signed_at, witness_id=inventory.witness_id,
        witnessed_at=inventory.witnessed_at, voided_by=inventory.voided_by,
        voided_at=inventory.voided_at, void_reason=inventory.void_reason,
        created_at=inventory.created_at,
        uncounted=uncounted, taker=names.staff.get(inventory.started_by),
        witness=names.staff.get(inventory.witness_id) if inventory.witness_id else None,
        locations=[names.locations[i] for i in locations if i in names.locations],
    )  # fmt: skip


def _entry_out(entry: InventoryEntry, names: Names, *, exact: bool) -> EntryOut:
    return EntryOut(
        location_id=entry.location_id, lot_id=entry.lot_id, product_id=entry.product_id,
        ledger_quantity=entry.ledger_quantity, counted=entry.counted,
        exactness=entry.exactness, exact_required=exact,
        variance=rules.variance(entry.counted, entry.ledger_quantity),
        counted_by=entry.counted_by, counted_at=entry.counted_at, event_id=entry.event_id,
        location=names.locations.get(entry.location_id), lot=names.lots.get(entry.lot_id),
        product=names.products.get(entry.product_id),
        counter=names.staff.get(entry.counted_by) if entry.counted_by else None,
    )  # fmt: skip
