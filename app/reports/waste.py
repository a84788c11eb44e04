"""The waste and destruction log: every waste and destruction of a period, with both people
and when each signed (the one who wasted or destroyed, by recording it; each witness, by
confirming it with their own token), the session a waste came from and the room it was in,
the amounts in mg and in the product's unit, and a destruction's Form 41 fields (21 CFR
1304.21, 1317.95; docs/domain.md#waste)."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, RowMapping, Select, Text, cast, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.clinical.sessions.models import TreatmentSession
from app.core.instants import printed_instant
from app.core.quantity import format_minor
from app.ledger.models import LedgerEvent, WitnessConfirmation
from app.ledger.types import EventType
from app.registry.models import Location
from app.reports.scope import Scope, events_of_period
from app.reports.snapshots import PRODUCT_COLUMNS, product_fields, quantity
from app.reports.streaming import FETCH_ROWS, RowSource
from app.reports.tabular import Chunks, Column, Row

NAME = "waste_log"
TITLE = "Waste and destruction log"
SIGNATURES = ("Reviewed by",)
TYPES = (EventType.waste.value, EventType.destroy.value)

_reversal = aliased(LedgerEvent)
_room = aliased(Location)


@dataclass(frozen=True, slots=True)
class Filters:
    location_id: uuid.UUID | None = None
    """Where the stock was: a session's holding for a waste, or the room it was in."""
    lot_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None
    """Who wasted or destroyed it, or witnessed it."""


def statement(
    scope: Scope, start: datetime, end: datetime, filters: Filters
) -> Select[*tuple[Any, ...]]:
    """The period's wastes and destructions, in the order they happened."""
    event = LedgerEvent
    query = (
        select(event.id, event.type, event.occurred_at, event.recorded_at, event.session_id,
               event.performed_by,
               type_coerce(event.quantity, BigInteger).label("quantity"),
               type_coerce(event.mg, BigInteger).label("mg"),
               cast(event.snapshot, Text).label("snapshot"),
               cast(event.details, Text).label("details"),
               TreatmentSession.scheduled_at.label("session_scheduled_at"),
               _room.name.label("session_room"), _reversal.id.label("reversed_by"))
        .outerjoin(TreatmentSession, TreatmentSession.id == event.session_id)
        .outerjoin(_room, _room.id == TreatmentSession.location_id)
        .outerjoin(_reversal, _reversal.reverses_event_id == event.id)
    )  # fmt: skip
    query = events_of_period(query, scope, start, end, TYPES)
    if filters.location_id is not None:
        query = query.where((event.location_id == filters.location_id)
                            | (TreatmentSession.location_id == filters.location_id))  # fmt: skip
    if filters.lot_id is not None:
        query = query.where(event.lot_id == filters.lot_id)
    if filters.product_id is not None:
        query = query.where(event.product_id == filters.product_id)
    if filters.staff_id is not None:
        staff = str(filters.staff_id)
        # witness_ids is a JSON list of id strings on both databases: a UUID's text is found
        # only where that id is.
        query = query.where((event.performed_by == filters.staff_id)
                            | cast(event.witness_ids, Text).contains(staff))  # fmt: skip
    return query


async def rows(db: AsyncSession, query: Select[*tuple[Any, ...]], scope: Scope) -> Chunks:
    """The rows, a thousand at a time, each with its witnesses' confirmations."""
    connection = await db.connection()
    result = await connection.stream(query.execution_options(yield_per=FETCH_ROWS))
    async for partition in result.mappings().partitions(FETCH_ROWS):
        signed = await _confirmations(db, [row["id"] for row in partition])
        yield [_row(row, signed[row["id"]], scope) for row in partition]


async def _confirmations(
    db: AsyncSession, event_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, datetime]]:
    """When each witness confirmed each event, by staff id."""
    found: dict[uuid.UUID, dict[str, datetime]] = defaultdict(dict)
    confirmed = await db.execute(
        select(WitnessConfirmation.event_id, WitnessConfirmation.staff_id,
               WitnessConfirmation.confirmed_at)
        .where(WitnessConfirmation.event_id.in_(event_ids))
    )  # fmt: skip
    for event_id, staff_id, at in confirmed:
        found[event_id][str(staff_id)] = at
    return found


def _row(row: RowMapping, signed: dict[str, datetime], scope: Scope) -> Row:
    snapshot = orjson.loads(row["snapshot"])
    destruction = orjson.loads(row["details"]).get("destruction") or {}
    witnesses = snapshot["witnesses"]
    scheduled = row["session_scheduled_at"]
    return {
        "event_id": row["id"],
        "occurred_at": scope.local(row["occurred_at"]),
        "kind": "destruction" if row["type"] == EventType.destroy.value else "waste",
        **product_fields(snapshot["product"]),
        "lot_number": snapshot["lot"]["lot_number"],
        "quantity": format_minor(row["quantity"]),
        "mg": format_minor(row["mg"]),
        "location": row["session_room"] or snapshot["location"]["name"],
        "session": scheduled and scope.local(scheduled),
        "session_id": row["session_id"],
        "by": (snapshot["performer"] or {}).get("name"),
        "by_signed_at": scope.local(row["recorded_at"]),
        "witnesses": [w["name"] for w in witnesses],
        "witnesses_signed": [_signature(w, signed, scope) for w in witnesses],
        "method": destruction.get("method"),
        "place": destruction.get("place"),
        "package_size": quantity(snapshot["product"]["package_size"]) if destruction else None,
        "full_packages": destruction.get("full_packages"),
        "partial_packages": destruction.get("partial_packages"),
        "reversed_by": row["reversed_by"],
    }


def _signature(witness: dict[str, Any], signed: dict[str, datetime], scope: Scope) -> str:
    """ "Wes Witness at 2026-03-02 09:12 CST", or "Wes Witness, not confirmed"."""
    at = signed.get(witness["id"])
    if at is None:
        return f"{witness['name']}, not confirmed"
    return f"{witness['name']} at {printed_instant(scope.local(at))}"


def source(scope: Scope, start: datetime, end: datetime, filters: Filters) -> RowSource:
    query = statement(scope, start, end, filters)
    return lambda db: rows(db, query, scope)


COLUMNS: list[Column] = [
    Column("event_id", "Event", printed=False),
    Column("occurred_at", "When", "when it was wasted or destroyed"),
    Column("kind", "Kind", "waste or destruction"),
    *PRODUCT_COLUMNS,
    Column("lot_number", "Lot"),
    Column("quantity", "Quantity", "in the product's inventory unit"),
    Column("unit", "Unit"),
    Column("mg", "mg", "mg of the substance"),
    Column("location", "Location", "where it was: a session's room, or the storage location"),
    Column("session", "Session", "a session's waste: when the session was scheduled"),
    Column("session_id", "Session id", printed=False),
    Column("by", "Wasted or destroyed by"),
    Column("by_signed_at", "Signed by them", "when they recorded it"),
    Column("witnesses", "Witnesses", printed=False),
    Column("witnesses_signed", "Witnesses, signed", "each witness and when they confirmed it"),
    Column("method", "Method of destruction"),
    Column("place", "Place of destruction"),
    Column("package_size", "Package quantity", "a destruction's units per full package"),
    Column("full_packages", "Full packages"),
    Column("partial_packages", "Partial packages"),
    Column("reversed_by", "Reversed by", "the reversal that undid it, if one did",
           printed=False),
]  # fmt: skip
