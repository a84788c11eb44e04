"""Inventory routes: start one, read its count sheet, count its lots, witness and sign it
(docs/domain.md#inventory)."""

import uuid

from fastapi import Depends, Response, status

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
from app.ledger.inventories import service, views
from app.ledger.inventories.models import Inventory
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
    return await views.with_sheet(session, caller.principal, inventory, caller.settings)


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
    items = await views.listed(session, principal, found, settings)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/inventories/{inventory_id}", response_model=InventoryWithSheet)
async def get_inventory(
    inventory_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep
) -> InventoryWithSheet:
    """The inventory with its count sheet: each lot at each location, what the ledger held
    there at as_of, what was counted and the variance."""
    inventory = await service.get(session, inventory_id, principal)
    return await views.with_sheet(session, principal, inventory, settings)


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
    return await views.line(session, caller.principal, inventory, entry)


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
    return await views.with_sheet(session, caller.principal, inventory, caller.settings)


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
    return await views.with_sheet(session, caller.principal, inventory, caller.settings)


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
    return await views.with_sheet(session, caller.principal, inventory, caller.settings)


@router.get("/inventories/{inventory_id}/history", response_model=list[RevisionOut])
async def inventory_history(
    inventory_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> object:
    """Every version of the inventory, oldest first: started, each count (a recount never
    hides the count it replaced), witnessed, signed; each by whom and when."""
    return await history(session, await service.get(session, inventory_id, principal))
