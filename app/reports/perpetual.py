"""The perpetual inventory: per location and lot, its balance when the period starts, every
movement of the period in the order it happened with the balance after it, each count where
it was taken with the ledger's balance there and the variance, and its balance when the
period ends (docs/domain.md#running-balance, #count).

The balances are sums of the ledger's postings: the opening one of those before the period,
each one after it a running sum (a window function) over the period's postings of its place.
At one instant a count stands after the movements, as the inventory report and the count
variance rule read it (the postings at a count's instant are not after it). One statement
makes every row, in order; :mod:`app.reports.perpetual_text` formats its cells for the CSV
PostgreSQL writes.
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Integer,
    RowMapping,
    Select,
    String,
    Text,
    Uuid,
    case,
    cast,
    func,
    literal,
    null,
    select,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Subquery

from app.catalog.models import Lot, Product
from app.catalog.names import Names, Within
from app.clinical.sessions.models import TreatmentSession
from app.core.db import UTCDateTime
from app.core.quantity import format_minor, format_quantity
from app.ledger.models import LedgerEvent, Posting
from app.ledger.types import EventType
from app.pharmacy.prescriptions.models import Prescription
from app.registry.models import Location, Patient, Staff
from app.reports.scope import Scope
from app.reports.streaming import FETCH_ROWS, RowSource
from app.reports.tabular import Chunks, Column, Row

NAME = "perpetual_inventory"
TITLE = "Perpetual inventory"
SIGNATURES = ("Reviewed by",)
OPENING, CLOSING = "opening balance", "closing balance"
"""The entries of a place's first and last rows; every other entry is its event's type."""
PART_OPENING, PART_LINE, PART_CLOSING = 0, 1, 2
"""A row's part of its place: what sorts its opening first and its closing last."""
COUNT = EventType.count.value


@dataclass(frozen=True, slots=True)
class Filters:
    location_id: uuid.UUID | None = None
    lot_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None
    """Who performed or witnessed a movement or count: only those lines, and only the places
    they were at (each balance stays the ledger's, whoever moved the rest)."""


@dataclass(frozen=True, slots=True)
class Period:
    scope: Scope
    start: datetime
    end: datetime
    filters: Filters
    patients_named: bool
    """Whether the caller may read patients: a patient is named, or only its record number."""

    @property
    def registrant_id(self) -> uuid.UUID:
        return self.scope.registrant.id


def _acted(event: Any, staff_id: uuid.UUID) -> Any:
    """``staff_id`` performed or witnessed ``event`` (witness_ids is a JSON list of id
    strings on both databases: a UUID's text is found only where that id is)."""
    return (event.performed_by == staff_id) | cast(event.witness_ids, Text).contains(str(staff_id))


def _places(period: Period) -> Subquery:
    """Each place (location, lot) the report shows, with its balance at the period's start
    (``opening``) and what the period moved there (``moved``): a place holding stock at the
    start, or with a posting or a count in the period."""
    P, E, filters = Posting, LedgerEvent, period.filters
    delta = type_coerce(P.delta, BigInteger)
    before = P.occurred_at < period.start
    held = (
        select(P.location_id, P.lot_id,
               func.sum(case((before, delta), else_=0)).label("opening"),
               func.sum(case((before, 0), else_=delta)).label("moved"),
               func.sum(case((before, 0), else_=1)).label("active"))
        .where(P.registrant_id == period.registrant_id, P.occurred_at < period.end,
               *_narrowed(P.location_id, P.lot_id, P.product_id, filters))
        .group_by(P.location_id, P.lot_id)
    )  # fmt: skip
    counted = (
        select(E.location_id, E.lot_id, literal(0), literal(0), literal(1))
        .where(*_of_period(period), E.type == COUNT,
               *_narrowed(E.location_id, E.lot_id, E.product_id, filters))
    )  # fmt: skip
    both = union_all(held, counted).subquery()
    opening = func.sum(both.c.opening)
    places = (
        select(both.c.location_id, both.c.lot_id, opening.label("opening"),
               func.sum(both.c.moved).label("moved"))
        .group_by(both.c.location_id, both.c.lot_id)
        .having((opening != 0) | (func.sum(both.c.active) > 0))
    )  # fmt: skip
    if filters.staff_id is not None:
        lines = _lines(period, None).subquery()
        acted = select(lines.c.location_id, lines.c.lot_id).where(lines.c.acted)
        places = places.where(tuple_(both.c.location_id, both.c.lot_id).in_(acted))
    return places.subquery("places")


def _narrowed(location: Any, lot: Any, product: Any, filters: Filters) -> list[Any]:
    wanted = ((location, filters.location_id), (lot, filters.lot_id),
              (product, filters.product_id))  # fmt: skip
    return [column == value for column, value in wanted if value is not None]


def _of_period(period: Period) -> list[Any]:
    E = LedgerEvent
    return [E.registrant_id == period.registrant_id, E.occurred_at >= period.start,
            E.occurred_at < period.end]  # fmt: skip


def _lines(period: Period, places: Subquery | None) -> Select[Any]:
    """The period's movements and counts at each place (a move at both of its places), with
    the balance after each: the place's opening plus the running sum of its postings."""
    E, P = LedgerEvent, Posting
    location = func.coalesce(P.location_id, E.location_id).label("location_id")
    delta = func.coalesce(type_coerce(P.delta, BigInteger), 0)
    is_count = case((E.type == COUNT, 1), else_=0)
    staff = period.filters.staff_id
    columns: list[Any] = [
        location, E.lot_id, E.occurred_at, E.sequence, E.id.label("event_id"),
        E.type, delta.label("delta"),
        case((E.type == COUNT, type_coerce(E.quantity, BigInteger))).label("counted"),
        E.performed_by, cast(E.witness_ids, Text).label("witness_ids"), E.patient_id,
        E.prescription_id, E.session_id,
        E.counterparty["name"].as_string().label("counterparty"), E.document_reference,
        (_acted(E, staff) if staff is not None else literal(True)).label("acted"),
    ]  # fmt: skip
    if places is not None:
        running = func.sum(delta).over(
            partition_by=(location, E.lot_id),
            order_by=(E.occurred_at, is_count, E.sequence),
            rows=(None, 0),
        )
        columns.append(cast(places.c.opening + running, BigInteger).label("balance"))
    query = (
        select(*columns)
        .select_from(E)
        .outerjoin(P, P.event_id == E.id)
        .where(*_of_period(period), P.event_id.is_not(None) | (E.type == COUNT),
               *_narrowed(location, E.lot_id, E.product_id, period.filters))
    )  # fmt: skip
    if places is not None:
        query = query.join(places, (places.c.location_id == location)
                           & (places.c.lot_id == E.lot_id))  # fmt: skip
    return query


def entries(period: Period) -> Subquery:
    """Every row of the report but its names: per place its opening, its lines and its
    closing (``part``), each with its balance."""
    places = _places(period)
    lines = _lines(period, places).subquery("lines")
    none: dict[str, Any] = {
        "event_id": Uuid(), "type": String(), "delta": BigInteger(), "counted": BigInteger(),
        "performed_by": Uuid(), "witness_ids": Text(), "patient_id": Uuid(),
        "prescription_id": Uuid(), "session_id": Uuid(), "counterparty": Text(),
        "document_reference": Text(),
    }  # fmt: skip

    def edge(part: int, at: datetime, balance: Any) -> Select[Any]:
        return select(
            places.c.location_id, places.c.lot_id, literal(part, Integer).label("part"),
            literal(at, UTCDateTime()).label("occurred_at"),
            cast(null(), BigInteger).label("sequence"),
            *(cast(null(), kind).label(name) for name, kind in none.items()),
            cast(balance, BigInteger).label("balance"),
        )  # fmt: skip

    line = select(
        lines.c.location_id, lines.c.lot_id, literal(PART_LINE, Integer).label("part"),
        lines.c.occurred_at, lines.c.sequence, *(lines.c[name] for name in none),
        lines.c.balance,
    ).where(lines.c.acted)  # fmt: skip
    return union_all(
        edge(PART_OPENING, period.start, places.c.opening),
        line,
        edge(PART_CLOSING, period.end, places.c.opening + places.c.moved),
    ).subquery("entries")


_reversal = aliased(LedgerEvent)
room = aliased(Location)
"""Where a session's movement happened: the ledger moves it through the session's holding,
but a person reads the room."""
performer = aliased(Staff)
patient = aliased(Patient)


def joined(period: Period, cells: Callable[[Subquery, Subquery], Sequence[Any]]) -> Select[Any]:
    """The ``cells`` of :func:`entries`' rows and the reversals that undid their events, with
    what names them joined, in the report's order: places by location name and lot number,
    then each place's rows in order."""
    rows = entries(period)
    reversals = (
        select(_reversal.id, _reversal.reverses_event_id)
        .where(_reversal.registrant_id == period.registrant_id,
               _reversal.type == EventType.reversal.value)
        .subquery("reversals")
    )  # fmt: skip
    return (
        select(*cells(rows, reversals))
        .select_from(rows)
        .join(Location, Location.id == rows.c.location_id)
        .join(Lot, Lot.id == rows.c.lot_id)
        .join(Product, Product.id == Lot.product_id)
        .outerjoin(Prescription, Prescription.id == rows.c.prescription_id)
        .outerjoin(TreatmentSession, TreatmentSession.id == rows.c.session_id)
        .outerjoin(room, room.id == TreatmentSession.location_id)
        .outerjoin(performer, performer.id == rows.c.performed_by)
        .outerjoin(patient, patient.id == rows.c.patient_id)
        .outerjoin(reversals, reversals.c.reverses_event_id == rows.c.event_id)
        .order_by(Location.name, Lot.lot_number, rows.c.location_id, rows.c.lot_id,
                  rows.c.part, rows.c.occurred_at,
                  case((rows.c.type == COUNT, 1), else_=0), rows.c.sequence)
    )  # fmt: skip


def statement(period: Period) -> Select[Any]:
    """The report's rows with their ids and numbers; staff and patients are named beside
    their ids a fetch at a time (:func:`rows`)."""
    return joined(period, lambda rows, reversals: [
        *rows.c, Location.name.label("location"), Lot.lot_number, Lot.expires_on,
        Product.name.label("product"), Product.ndc, Product.compound_code,
        Product.strength_value, Product.strength_unit, Product.inventory_unit,
        Prescription.rx_number, TreatmentSession.scheduled_at.label("session_scheduled_at"),
        room.name.label("room"), reversals.c.id.label("reversed_by"),
    ])  # fmt: skip


async def rows(db: AsyncSession, query: Select[Any], period: Period) -> Chunks:
    """The rows, a thousand at a time, their staff and patients named for the fetch."""
    within = Within([period.registrant_id], patients_named=period.patients_named)
    connection = await db.connection()
    result = await connection.stream(query.execution_options(yield_per=FETCH_ROWS))
    async for partition in result.mappings().partitions(FETCH_ROWS):
        witnesses = [orjson.loads(row["witness_ids"] or "[]") for row in partition]
        names = await within.names(
            db,
            staff=[*(row["performed_by"] for row in partition),
                   *(uuid.UUID(w) for found in witnesses for w in found)],
            patients=(row["patient_id"] for row in partition),
        )  # fmt: skip
        yield [_row(row, found, names, period.scope)
               for row, found in zip(partition, witnesses, strict=True)]  # fmt: skip


def _row(row: RowMapping, witnesses: Sequence[str], names: Names, scope: Scope) -> Row:
    part, delta, balance, counted = row["part"], row["delta"], row["balance"], row["counted"]
    by = names.staff.get(row["performed_by"]) if row["performed_by"] else None
    named = names.patients.get(row["patient_id"]) if row["patient_id"] else None
    scheduled = row["session_scheduled_at"]
    return {
        "location_id": row["location_id"],
        "location": row["location"],
        "lot_id": row["lot_id"],
        "lot_number": row["lot_number"],
        "expires_on": row["expires_on"],
        "product": row["product"],
        "ndc": row["ndc"] or row["compound_code"],
        "strength": f"{format_quantity(row['strength_value'])} {row['strength_unit']}",
        "unit": row["inventory_unit"],
        "entry": {PART_OPENING: OPENING, PART_CLOSING: CLOSING}.get(part) or row["type"],
        "event_id": row["event_id"],
        "sequence": row["sequence"],
        "occurred_at": scope.local(row["occurred_at"]),
        "performed_by": row["performed_by"],
        "performer": by and by.name,
        "performer_credential": by and credential(by.role, by.state_license),
        "witnesses": [names.staff[uuid.UUID(w)].name for w in witnesses
                      if uuid.UUID(w) in names.staff],
        "patient_id": row["patient_id"],
        "patient": named and (f"{named.name} ({named.external_id})" if named.name
                              else named.external_id),
        "prescription_id": row["prescription_id"],
        "rx_number": row["rx_number"],
        "session_id": row["session_id"],
        "room": row["room"],
        "session": scheduled and scope.local(scheduled),
        "counterparty": row["counterparty"],
        "document_reference": row["document_reference"],
        "quantity_in": format_minor(delta) if delta and delta > 0 else None,
        "quantity_out": format_minor(-delta) if delta and delta < 0 else None,
        "balance": format_minor(balance),
        "counted": None if counted is None else format_minor(counted),
        "variance": None if counted is None else format_minor(counted - balance),
        "reversed_by": row["reversed_by"],
    }  # fmt: skip


def credential(role: str, state_license: str | None) -> str:
    """A staff member's role, and their state license where they hold one."""
    return f"{role}, license {state_license}" if state_license else str(role)


def source(period: Period) -> RowSource:
    query = statement(period)
    return lambda db: rows(db, query, period)


COLUMNS: list[Column] = [
    Column("location_id", "Location id", printed=False),
    Column("location", "Location"),
    Column("lot_id", "Lot id", printed=False),
    Column("lot_number", "Lot"),
    Column("expires_on", "Expires"),
    Column("product", "Product"),
    Column("ndc", "NDC", "NDC, or the compound code of a compounded product"),
    Column("strength", "Strength"),
    Column("unit", "Unit", "the unit of every quantity of the row"),
    Column("entry", "Entry", "opening balance, the event's type (a movement or a count), or "
           "closing balance"),
    Column("event_id", "Event", printed=False),
    Column("sequence", "Sequence", "the event's place in the registrant's chain"),
    Column("occurred_at", "When", "when it happened; a balance's: when the period starts or "
           "ends"),
    Column("performed_by", "Staff id", "who performed it", printed=False),
    Column("performer", "By"),
    Column("performer_credential", "Credential", "their role, and state license"),
    Column("witnesses", "Witnesses"),
    Column("patient_id", "Patient id", printed=False),
    Column("patient", "Patient", "the patient's name and record number (the record number "
           "alone for a caller who may not read patients)"),
    Column("prescription_id", "Prescription id", printed=False),
    Column("rx_number", "Rx number"),
    Column("session_id", "Session id", printed=False),
    Column("room", "Room", "a session's: the room it was in"),
    Column("session", "Session", "a session's: when it was scheduled"),
    Column("counterparty", "Supplier or receiver"),
    Column("document_reference", "Document", "an invoice, a DEA Form 222, a receipt"),
    Column("quantity_in", "In"),
    Column("quantity_out", "Out"),
    Column("balance", "Balance", "the ledger's balance after the row (at a count: where the "
           "count was taken)"),
    Column("counted", "Counted", "a count's quantity"),
    Column("variance", "Variance", "counted less the ledger's balance"),
    Column("reversed_by", "Reversed by", "the reversal that undid it, if one did",
           printed=False),
]  # fmt: skip
