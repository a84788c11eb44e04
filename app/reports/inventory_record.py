"""The record of one inventory, as 21 CFR 1304.11 asks it kept: its date, whether taken at
the opening or close of business, who took it (and who witnessed it), and per lot at each
location the substance, form, strength, container size, what was counted (exact or
estimated) and how many containers, beside what the ledger held and the variance; printed
with lines to sign (docs/domain.md#inventory)."""

import uuid
from datetime import datetime
from typing import Any

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.catalog.models import Lot, Product
from app.catalog.names import StaffName, Within
from app.core.quantity import rounded
from app.ledger.inventories import service as inventories
from app.ledger.inventories.models import Inventory, InventoryEntry
from app.ledger.inventories.rules import variance
from app.registry.models import Location
from app.reports.inventory import LOT_AT_PLACE, lot_at_place
from app.reports.scope import Scope, report_scope
from app.reports.streaming import as_chunks, respond
from app.reports.tabular import Column, Format, Row

FORM = "inventory_record"
TITLE = "Inventory record (21 CFR 1304.11)"
LABELS = {
    "inventory_kind": "Inventory",
    "taken_at": "Taken at",
    "exact_counts_required": "Exact counts required",
}
_KINDS = {"initial": "initial inventory", "biennial": "biennial inventory",
          "ad_hoc": "inventory (ad hoc)"}  # fmt: skip
_TIMES = {"opening_of_business": "opening of business", "close_of_business": "close of business"}


async def respond_record(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    now: datetime,
    inventory_id: uuid.UUID,
    fmt: Format,
) -> Response:
    """The record of the inventory in ``fmt``, for whoever may take inventories there: the
    API's report route and the console's link serve the same bytes."""
    inventory = await inventories.get(db, inventory_id, principal)
    scope = await report_scope(db, inventory.registrant_id, principal, now,
                               permission=Permission.counts)  # fmt: skip
    fields, rows = await record(db, inventory, scope)
    head = scope.header(FORM, **fields)
    return await respond(request, fmt, head, COLUMNS, lambda _db: as_chunks(rows), title=TITLE,
                         signatures=signatures(fields), labels=LABELS)  # fmt: skip


def signatures(fields: dict[str, Any]) -> tuple[str, ...]:
    """A line for whoever took it and one for the witness, each named."""
    witness = fields["witnessed_by"] or "(where required)"
    return (f"Inventory taken by {fields['taken_by']}", f"Witnessed by {witness}")


async def record(
    db: AsyncSession, inventory: Inventory, scope: Scope
) -> tuple[dict[str, Any], list[Row]]:
    """The head's fields and one row per lot at each location, in location, product and lot
    order."""
    found = await db.execute(
        select(InventoryEntry, Location.name, Lot.lot_number, Lot.expires_on, Product)
        .join(Location, Location.id == InventoryEntry.location_id)
        .join(Lot, Lot.id == InventoryEntry.lot_id)
        .join(Product, Product.id == InventoryEntry.product_id)
        .where(InventoryEntry.inventory_id == inventory.id)
        .order_by(Location.name, Product.name, Lot.lot_number)
    )  # fmt: skip
    lines = list(found)
    people = await Within.report(inventory.registrant_id).names(
        db, staff=[inventory.started_by, inventory.witness_id, *(e.counted_by for e, *_ in lines)],
        locations=[uuid.UUID(i) for i in inventory.location_ids],
    )  # fmt: skip
    named = people.staff
    fields = {
        "inventory_id": inventory.id,
        "inventory_kind": _KINDS[inventory.kind],
        "date": scope.local(inventory.as_of).date(),
        "taken_at": _TIMES[inventory.taken_at],
        "as_of": scope.local(inventory.as_of),
        "locations": [people.locations[uuid.UUID(i)].name for i in inventory.location_ids
                      if uuid.UUID(i) in people.locations],
        "state": inventory.state,
        "taken_by": _person(named.get(inventory.started_by)),
        "signed_at": scope.local(inventory.signed_at) if inventory.signed_at else None,
        "witnessed_by": _person(named.get(inventory.witness_id)) if inventory.witness_id else None,
        "witnessed_at": scope.local(inventory.witnessed_at) if inventory.witnessed_at else None,
        "exact_counts_required": inventory.exact_required,
    }  # fmt: skip
    rows = [_row(entry, location, lot_number, expires_on, product, named)
            for entry, location, lot_number, expires_on, product in lines]  # fmt: skip
    return fields, rows


def _person(staff: StaffName | None) -> str | None:
    if staff is None:
        return None
    credential = ", ".join(part for part in (staff.role.replace("_", " "), staff.state_license)
                           if part)  # fmt: skip
    return f"{staff.name} ({credential})"


def _row(
    entry: InventoryEntry,
    location: str,
    lot_number: str,
    expires_on: Any,
    product: Product,
    named: dict[uuid.UUID, StaffName],
) -> Row:
    package = product.package_size
    counter = named.get(entry.counted_by) if entry.counted_by else None
    return {
        **lot_at_place(location, product, lot_number, expires_on),
        "counted": entry.counted,
        "unit": product.inventory_unit,
        "containers": None if entry.counted is None else rounded(entry.counted / package),
        "exactness": entry.exactness,
        "ledger_quantity": entry.ledger_quantity,
        "variance": variance(entry.counted, entry.ledger_quantity),
        "counted_by": counter.name if counter else None,
        "event_id": entry.event_id,
    }


COLUMNS: list[Column] = [
    *LOT_AT_PLACE,
    Column("counted", "Counted", "what was found, in the inventory unit"),
    Column("unit", "Unit"),
    Column("containers", "Containers", "counted over container size"),
    Column("exactness", "Count", "exact or estimated (21 CFR 1304.11(e)(3))"),
    Column("ledger_quantity", "Ledger", "what the ledger held at the instant"),
    Column("variance", "Variance", "counted minus the ledger"),
    Column("counted_by", "Counted by"),
    Column("event_id", "Count event", "the ledger's count event, once signed", printed=False),
]
