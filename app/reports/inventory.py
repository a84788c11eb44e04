"""An inventory as of an instant (21 CFR 1304.11): what the ledger held at each location and
lot then, each beside the physical count nearest in time, for an initial, biennial or ad hoc
inventory taken at the opening or close of business.

On hand is the sum of the postings up to the instant. Beside it, the count of that place
nearest the instant (before or after it), with what the ledger held at that count's own
instant, so a count that agreed then reads as agreeing. Both are sums of postings up to an
instant, read from the index of postings by place and instant.
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Text, Uuid, cast, func, literal, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Lot, Product
from app.core.db import Quantity
from app.core.quantity import rounded
from app.ledger.inventories.rules import EXACT_ABOVE_UNITS
from app.ledger.models import LedgerEvent, Posting
from app.ledger.queries import was_reversed
from app.ledger.types import EventType
from app.registry.models import Location
from app.reports.scope import Scope
from app.reports.snapshots import PRODUCT_COLUMNS, quantity
from app.reports.tabular import Column, Row

NAME = "inventory"
TITLE = "Inventory"
SIGNATURES = ("Inventory taken by",)

Place = tuple[uuid.UUID, uuid.UUID]


@dataclass(frozen=True, slots=True)
class Options:
    exact_counts_required: bool
    """The registrant's state requires exact counts of every schedule."""


async def rows(db: AsyncSession, scope: Scope, as_of: datetime, options: Options) -> list[Row]:
    """One row per location and lot holding stock at ``as_of``, in location and product
    order."""
    held = await _on_hand(db, scope.registrant.id, as_of)
    if not held:
        return []
    described = await _described(db, set(held))
    counts = await _nearest_counts(db, scope.registrant.id, as_of, set(held))
    found = [
        _row(scope, described[place], on_hand, counts.get(place), options)
        for place, on_hand in held.items()
    ]
    return sorted(found, key=lambda row: (row["location"], row["product"], row["lot_number"]))


async def _on_hand(db: AsyncSession, rid: uuid.UUID, as_of: datetime) -> dict[Place, Decimal]:
    total = func.sum(Posting.delta)
    result = await db.execute(
        select(Posting.location_id, Posting.lot_id, type_coerce(total, Quantity()))
        .where(Posting.registrant_id == rid, Posting.occurred_at <= as_of)
        .group_by(Posting.location_id, Posting.lot_id)
        .having(total != 0)
    )  # fmt: skip
    return {(location, lot): held for location, lot, held in result}


async def _described(db: AsyncSession, places: set[Place]) -> dict[Place, Any]:
    """Each place's location, lot and product, as they are now."""
    result = await db.execute(
        select(Location.id.label("location_id"), Location.name.label("location"),
               Lot.id.label("lot_id"), Lot.lot_number, Lot.expires_on, Product)
        .join(Lot, Lot.registrant_id == Location.registrant_id)
        .join(Product, Product.id == Lot.product_id)
        .where(Location.id.in_({location for location, _ in places}),
               Lot.id.in_({lot for _, lot in places}))
    )  # fmt: skip
    return {(row.location_id, row.lot_id): row for row in result}


async def _nearest_counts(
    db: AsyncSession, rid: uuid.UUID, as_of: datetime, places: set[Place]
) -> dict[Place, dict[str, Any]]:
    """Per place, the count nearest ``as_of``: the last at or before it or the first after
    it, whichever is closer (reversed counts are no counts)."""
    before = await _count_beside(db, rid, as_of, places, before=True)
    after = await _count_beside(db, rid, as_of, places, before=False)
    nearest: dict[Place, Any] = {}
    for row in [*before, *after]:
        place = (row.location_id, row.lot_id)
        if place in places and (
            place not in nearest
            or abs(row.occurred_at - as_of) < abs(nearest[place].occurred_at - as_of)
        ):
            nearest[place] = row
    expected = await _held_at_counts(db, list(nearest.values()))
    return {place: {"row": row, "expected": expected[row.id]} for place, row in nearest.items()}


async def _held_at_counts(db: AsyncSession, counts: list[Any]) -> dict[uuid.UUID, Decimal]:
    """What the ledger held at each count's place and instant: a sum over the postings
    index of that place up to it, one aggregate per count (an inventory has few)."""
    if not counts:
        return {}
    held = type_coerce(func.coalesce(func.sum(Posting.delta), 0), Quantity())
    parts = [
        select(literal(count.id, Uuid()).label("count_id"), held.label("held"))
        .where(Posting.location_id == count.location_id, Posting.lot_id == count.lot_id,
               Posting.occurred_at <= count.occurred_at)
        for count in counts
    ]  # fmt: skip
    statement = union_all(*parts) if len(parts) > 1 else parts[0]
    return {count_id: value for count_id, value in await db.execute(statement)}


async def _count_beside(
    db: AsyncSession, rid: uuid.UUID, as_of: datetime, places: set[Place], *, before: bool
) -> list[Any]:
    event = LedgerEvent
    order = event.occurred_at.desc() if before else event.occurred_at
    rank = func.row_number().over(partition_by=(event.location_id, event.lot_id), order_by=order)
    side = event.occurred_at <= as_of if before else event.occurred_at > as_of
    ranked = (
        select(event.id, event.location_id, event.lot_id, event.occurred_at, event.quantity,
               cast(event.details, Text).label("details"),
               cast(event.snapshot, Text).label("snapshot"), rank.label("rank"))
        .where(event.registrant_id == rid, event.type == EventType.count.value, side,
               event.location_id.in_({location for location, _ in places}),
               ~was_reversed(event.id))
        .subquery()
    )  # fmt: skip
    return list(await db.execute(select(ranked).where(ranked.c.rank == 1)))


def lot_at_place(location: str, product: Product, lot_number: str, expires_on: date) -> Row:
    """The cells of :data:`LOT_AT_PLACE`: a lot where it is kept, named as an inventory
    lists it."""
    return {
        "location": location,
        "substance": product.substance,
        "product": product.name,
        "ndc": product.ndc or product.compound_code,
        "dosage_form": product.dosage_form,
        "strength": f"{quantity(str(product.strength_value))} {product.strength_unit}",
        "package_size": product.package_size,
        "lot_number": lot_number,
        "expires_on": expires_on,
    }


def _row(
    scope: Scope, place: Any, on_hand: Decimal, count: dict[str, Any] | None, options: Options
) -> Row:
    product: Product = place.Product
    package = product.package_size
    exact = options.exact_counts_required or (
        product.inventory_unit == "each" and package > EXACT_ABOVE_UNITS
    )
    return {
        **lot_at_place(place.location, product, place.lot_number, place.expires_on),
        "on_hand": on_hand,
        "unit": product.inventory_unit,
        "containers": rounded(on_hand / package),
        "count_method": "exact" if exact else "estimated allowed",
        **_count_cells(scope, count),
    }


def _count_cells(scope: Scope, count: dict[str, Any] | None) -> dict[str, Any]:
    if count is None:
        return dict.fromkeys(("count_event_id", "counted_at", "counted", "expected_at_count",
                              "count_kind", "counted_by"))  # fmt: skip
    row = count["row"]
    details = orjson.loads(row.details)["count"]
    counter = orjson.loads(row.snapshot)["counted_by"] or {}
    return {
        "count_event_id": row.id,
        "counted_at": scope.local(row.occurred_at),
        "counted": row.quantity,
        "expected_at_count": count["expected"],
        "count_kind": f"{details['inventory_kind']}, {details['taken_at']}, {details['exactness']}",
        "counted_by": counter.get("name"),
    }


LOT_AT_PLACE: list[Column] = [
    Column("location", "Location"),
    *PRODUCT_COLUMNS,
    Column("package_size", "Container size", "inventory units per commercial container"),
    Column("lot_number", "Lot"),
    Column("expires_on", "Expires"),
]
"""What names a lot where it is kept, as an inventory lists it (this one and an inventory's
record, app/reports/inventory_record.py)."""

COLUMNS: list[Column] = [
    *LOT_AT_PLACE,
    Column("on_hand", "On hand", "the ledger's balance at the instant"),
    Column("unit", "Unit"),
    Column("containers", "Containers", "on hand over container size"),
    Column("count_method", "Count", "exact, or estimated allowed (21 CFR 1304.11(e)(3))"),
    Column(
        "count_event_id",
        "Nearest count",
        "the count of this place nearest the instant",
        printed=False,
    ),
    Column("counted_at", "Counted at"),
    Column("counted", "Counted"),
    Column("expected_at_count", "Ledger at count", "what the ledger held when it was counted"),
    Column("count_kind", "Count kind", "inventory kind, time of day, exactness"),
    Column("counted_by", "Counted by"),
]
