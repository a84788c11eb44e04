"""Inventory routes: start one, read its count sheet, count its lots, witness and sign it
(docs/domain.md#inventory)."""

import uuid
from collections.abc import Sequence

from fastapi import Depends, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.catalog.models import Product
from app.catalog.names import Names
from app.core.config import Settings
from app.core.pagination import Page, paginate
from app.core.revisions import history
from app.edge.audit import audited
from app.edge.deps import (
    CurrentCaller,
    CurrentPrincipal,
    IdempotencyRequired,
    Idempotent,
    SessionDep,
    SettingsDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router
from app.ledger.inventories import rules, service
from app.ledger.inventories.models import Inventory, InventoryEntry
from app.ledger.inventories.schemas import (
    EntryCount,
    EntryOut,
    InventoryCreate,
    InventoryOut,
    InventorySign,
    InventoryState,
    InventoryVoid,
    InventoryWithSheet,
    InventoryWitness,
)
from app.registry.schemas import RevisionOut

router = api_router(dependencies=[Depends(current_principal)], tags=["inventories"])


@router.post(
    "/inventories",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    response_model=InventoryWithSheet,
)
@audited("inventory")
async def start_inventory(
    body: InventoryCreate, response: Response, session: SessionDep, caller: CurrentCaller
) -> InventoryWithSheet:
    """Start an inventory (initial, biennial, or any count) of the registrant's locations as
    of an instant, at the opening or close of business (21 CFR 1304.11). Its count sheet
    lists every lot the ledger held at each location then. Pharmacists, clinicians and
    compliance officers, as the staff member taking it."""
    inventory = await service.start(session, body, caller)
    set_location(response, f"/v1/inventories/{inventory.id}")
    return await _with_sheet(session, caller.principal, inventory, caller.settings)


@router.get("/inventories", response_model=Page[InventoryOut])
async def list_inventories(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    state: InventoryState | None = None,
) -> dict[str, object]:
    statement = service.inventories_query(principal, registrant_id=registrant_id, state=state)
    found, next_cursor = await paginate(
        session, statement, created_at=Inventory.created_at, row_id=Inventory.id, limit=limit,
        cursor=cursor,
    )  # fmt: skip
    tallies = await service.tallies(session, [inventory.id for inventory in found])
    names = await _names(session, principal, found, [])
    items = []
    for inventory in found:
        tally = tallies.get(inventory.id, service.Tally())
        always = settings.inventory_witness_required
        items.append(_out(inventory, names, tally.uncounted,
                          witness_required=always or tally.varied > 0))  # fmt: skip
    return {"items": items, "next_cursor": next_cursor}


@router.get("/inventories/{inventory_id}", response_model=InventoryWithSheet)
async def get_inventory(
    inventory_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep
) -> InventoryWithSheet:
    """The inventory with its count sheet: each lot at each location, what the ledger held
    there at as_of, what was counted and the variance."""
    inventory = await service.get(session, inventory_id, principal)
    return await _with_sheet(session, principal, inventory, settings)


@router.post(
    "/inventories/{inventory_id}/counts", dependencies=[Idempotent], response_model=EntryOut
)
@audited("inventory", "inventory_id")
async def count_lot(
    inventory_id: uuid.UUID, body: EntryCount, session: SessionDep, caller: CurrentCaller
) -> EntryOut:
    """Count a lot at a location of the inventory: answers at once with what the ledger held
    there at as_of and the variance. Exact where required (the state's setting, a container
    of more than 1,000 units: 21 CFR 1304.11(e)(3)); a lot counted again keeps the last
    count, and clears a witness's signature."""
    inventory, entry = await service.count(session, inventory_id, body, caller)
    product = await session.get(Product, entry.product_id)
    assert product is not None  # the count read it
    names = await _names(session, caller.principal, [inventory], [entry])
    return _entry_out(entry, names, exact=service.exact_required(inventory, product))


@router.post(
    "/inventories/{inventory_id}/witness", dependencies=[Idempotent],
    response_model=InventoryWithSheet,
)  # fmt: skip
@audited("inventory", "inventory_id")
async def witness_inventory(
    inventory_id: uuid.UUID, body: InventoryWitness, session: SessionDep, caller: CurrentCaller
) -> InventoryWithSheet:
    """A witness co-signs the counted sheet, with their own token: another staff member than
    whoever took it. Required where the setting says so and whenever a count differs from
    the ledger; a count changed afterwards clears it."""
    inventory = await service.witness(session, inventory_id, caller)
    return await _with_sheet(session, caller.principal, inventory, caller.settings)


@router.post(
    "/inventories/{inventory_id}/sign", dependencies=IdempotencyRequired,
    response_model=InventoryWithSheet,
)  # fmt: skip
@audited("inventory", "inventory_id")
async def sign_inventory(
    inventory_id: uuid.UUID, body: InventorySign, session: SessionDep, caller: CurrentCaller
) -> InventoryWithSheet:
    """Whoever took the inventory signs it (409 `inventory-uncounted` while a lot is not
    counted, `inventory-witness-required` before a required witness): its counts are then
    appended to the ledger as count events at as_of, in the same transaction, and
    reconciliation weighs each against the ledger (count_variance)."""
    inventory = await service.sign(session, inventory_id, caller)
    return await _with_sheet(session, caller.principal, inventory, caller.settings)


@router.post(
    "/inventories/{inventory_id}/void", dependencies=[Idempotent],
    response_model=InventoryWithSheet,
)  # fmt: skip
@audited("inventory", "inventory_id")
async def void_inventory(
    inventory_id: uuid.UUID, body: InventoryVoid, session: SessionDep, caller: CurrentCaller
) -> InventoryWithSheet:
    """Abandon an open inventory started in error (the wrong instant or places), saying why:
    whoever took it, or a compliance officer. It is kept with its counts and its reason, and
    nothing of it reaches the ledger; take the inventory again. A signed one is a record
    (409 `inventory-signed`)."""
    inventory = await service.void(session, inventory_id, body.reason, caller)
    return await _with_sheet(session, caller.principal, inventory, caller.settings)


@router.get("/inventories/{inventory_id}/history", response_model=list[RevisionOut])
async def inventory_history(
    inventory_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> object:
    """Every version of the inventory, oldest first: started, each count (a recount never
    hides the count it replaced), witnessed, signed; each by whom and when."""
    return await history(session, await service.get(session, inventory_id, principal))


async def _with_sheet(
    session: AsyncSession, principal: Principal, inventory: Inventory, settings: Settings
) -> InventoryWithSheet:
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
