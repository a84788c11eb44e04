"""The perpetual inventory: per location and lot, its balance when the period starts, every
movement of the period in the order it happened with the balance after it, each count where
it was taken with the ledger's balance there and the variance, and its balance when the
period ends (docs/domain.md#running-balance, #count).

The balances are sums of the ledger's postings: a place's opening and closing ones, and what
names it, come from one query over its postings (:func:`places`); the balance after each of
its lines is the opening plus a running sum (a window function) over the period's postings of
that place, in the order the statement of its lines also returns them (:func:`lines`), so one
sort serves both. At one instant a count stands after the movements, as the inventory report
and the count variance rule read it (the postings at a count's instant are not after it).
The report is made a place at a time: its opening, its lines streamed, its closing; on
PostgreSQL each place's lines are written as CSV by the database
(:mod:`app.reports.perpetual_text`).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    RowMapping,
    Select,
    Text,
    case,
    cast,
    func,
    literal,
    select,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Subquery

from app.catalog.models import Lot, Product
from app.catalog.names import Within, credential
from app.clinical.sessions.models import TreatmentSession
from app.core.quantity import format_minor, format_quantity
from app.ledger.models import LedgerEvent, Posting
from app.ledger.types import EventType
from app.pharmacy.prescriptions.models import Prescription
from app.registry.models import Location, Patient, Staff
from app.reports.perpetual_columns import COLUMNS as COLUMNS
from app.reports.scope import Scope
from app.reports.streaming import FETCH_ROWS, RowSource
from app.reports.tabular import Chunks, Row

NAME = "perpetual_inventory"
TITLE = "Perpetual inventory"
SIGNATURES = ("Reviewed by",)
OPENING, CLOSING = "opening balance", "closing balance"
"""The entries of a place's first and last rows; every other entry is its event's type."""
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


@dataclass(frozen=True, slots=True)
class Place:
    """A location and lot of the report, with its balances (minor units) and its names."""

    location_id: uuid.UUID
    lot_id: uuid.UUID
    opening: int
    closing: int
    location: str
    lot_number: str
    expires_on: date
    product: str
    ndc: str
    strength: str
    unit: str

    def cells(self) -> dict[str, Any]:
        """What every row of the place says of it."""
        return {"location_id": self.location_id, "location": self.location,
                "lot_id": self.lot_id, "lot_number": self.lot_number,
                "expires_on": self.expires_on, "product": self.product, "ndc": self.ndc,
                "strength": self.strength, "unit": self.unit}  # fmt: skip


def _acted(event: Any, staff_id: uuid.UUID) -> Any:
    """``staff_id`` performed or witnessed ``event`` (witness_ids is a JSON list of id
    strings on both databases: a UUID's text is found only where that id is)."""
    return (event.performed_by == staff_id) | cast(event.witness_ids, Text).contains(str(staff_id))


def _narrowed(location: Any, lot: Any, product: Any, filters: Filters) -> list[Any]:
    wanted = ((location, filters.location_id), (lot, filters.lot_id),
              (product, filters.product_id))  # fmt: skip
    return [column == value for column, value in wanted if value is not None]


def _of_period(period: Period) -> list[Any]:
    E = LedgerEvent
    return [E.registrant_id == period.registrant_id, E.occurred_at >= period.start,
            E.occurred_at < period.end]  # fmt: skip


def _places_statement(period: Period) -> Select[*tuple[Any, ...]]:
    """Each place the report shows, by location name and lot number: one holding stock at
    the period's start or with a posting or a count in the period (with the staff filter,
    one where they acted), with its balance at the start and at the end."""
    P, E, filters = Posting, LedgerEvent, period.filters
    delta = type_coerce(P.delta, BigInteger)
    before = P.occurred_at < period.start
    held = (
        select(P.location_id, P.lot_id, case((before, delta), else_=0).label("opening"),
               delta.label("closing"), case((before, 0), else_=1).label("active"))
        .where(P.registrant_id == period.registrant_id, P.occurred_at < period.end,
               *_narrowed(P.location_id, P.lot_id, P.product_id, filters))
    )  # fmt: skip
    counted = (
        select(E.location_id, E.lot_id, literal(0), literal(0), literal(1))
        .where(*_of_period(period), E.type == COUNT,
               *_narrowed(E.location_id, E.lot_id, E.product_id, filters))
    )  # fmt: skip
    both = union_all(held, counted).subquery()
    opening, active = func.sum(both.c.opening), func.sum(both.c.active)
    found = (
        select(both.c.location_id, both.c.lot_id, opening.label("opening"),
               func.sum(both.c.closing).label("closing"))
        .group_by(both.c.location_id, both.c.lot_id)
        .having((opening != 0) | (active > 0))
    )  # fmt: skip
    if filters.staff_id is not None:
        acted = _places_acted(period, filters.staff_id)
        found = found.where(tuple_(both.c.location_id, both.c.lot_id).in_(acted))
    place = found.subquery("found")
    return (
        select(place, Location.name.label("location"), Lot.lot_number, Lot.expires_on, Product)
        .join(Location, Location.id == place.c.location_id)
        .join(Lot, Lot.id == place.c.lot_id)
        .join(Product, Product.id == Lot.product_id)
        .order_by(Location.name, Lot.lot_number, place.c.location_id, place.c.lot_id)
    )  # fmt: skip


def _places_acted(period: Period, staff_id: uuid.UUID) -> Select[*tuple[Any, ...]]:
    """The places of the period's movements and counts ``staff_id`` performed or
    witnessed."""
    E, P = LedgerEvent, Posting
    location = func.coalesce(P.location_id, E.location_id)
    return (
        select(location, E.lot_id)
        .select_from(E)
        .outerjoin(P, P.event_id == E.id)
        .where(*_of_period(period), _acted(E, staff_id),
               P.event_id.is_not(None) | (E.type == COUNT))
    )  # fmt: skip


async def places(db: AsyncSession, period: Period) -> list[Place]:
    found = await db.execute(_places_statement(period))
    return [_place(row) for row in found]


def _place(row: Any) -> Place:
    return described(row.location_id, row.lot_id, int(row.opening), int(row.closing), row)


def described(
    location_id: uuid.UUID, lot_id: uuid.UUID, opening: int, closing: int, row: Any
) -> Place:
    """A place with its balances, named by ``row``'s location, lot number, expiry and
    product."""
    product: Product = row.Product
    return Place(
        location_id=location_id, lot_id=lot_id, opening=opening,
        closing=closing, location=row.location, lot_number=row.lot_number,
        expires_on=row.expires_on, product=product.name,
        ndc=product.ndc or product.compound_code or "",
        strength=f"{format_quantity(product.strength_value)} {product.strength_unit}",
        unit=product.inventory_unit,
    )  # fmt: skip


_reversal = aliased(LedgerEvent)
_room = aliased(Location)
"""Where a session's movement happened: the ledger moves it through the session's holding,
but a person reads the room."""
_performer = aliased(Staff)


def lines(period: Period, place: Place) -> Subquery:
    """The period's movements and counts at ``place`` (a move at both of its places), each
    with its signed ``delta`` there (a count's is 0), the ``balance`` after it (the place's
    opening plus the running sum of its deltas), and what names its people and references.
    :func:`in_order` orders them as the running sum does."""
    E, P = LedgerEvent, Posting
    delta = func.coalesce(type_coerce(P.delta, BigInteger), 0)
    is_count = case((E.type == COUNT, 1), else_=0)
    staff = period.filters.staff_id
    running = func.sum(delta).over(order_by=(E.occurred_at, is_count, E.sequence),
                                   rows=(None, 0))  # fmt: skip
    at_place = (E.location_id == place.location_id) | (E.to_location_id == place.location_id)
    reversals = (
        select(_reversal.id, _reversal.reverses_event_id)
        .where(_reversal.registrant_id == period.registrant_id,
               _reversal.type == EventType.reversal.value)
        .subquery("reversals")
    )  # fmt: skip
    return (
        select(
            E.id.label("event_id"), E.type, E.occurred_at, is_count.label("is_count"),
            E.sequence, delta.label("delta"),
            case((E.type == COUNT, type_coerce(E.quantity, BigInteger))).label("counted"),
            cast(literal(place.opening, BigInteger) + running, BigInteger).label("balance"),
            E.performed_by, cast(E.witness_ids, Text).label("witness_ids"), E.patient_id,
            E.prescription_id, E.session_id,
            E.counterparty["name"].as_string().label("counterparty"), E.document_reference,
            (_acted(E, staff) if staff is not None else literal(True)).label("acted"),
            reversals.c.id.label("reversed_by"), _performer.name.label("performer_name"),
            _performer.role.label("performer_role"),
            _performer.state_license.label("performer_license"),
        )
        .select_from(E)
        .outerjoin(P, (P.event_id == E.id) & (P.location_id == place.location_id)
                   & (P.lot_id == place.lot_id))
        .outerjoin(reversals, reversals.c.reverses_event_id == E.id)
        .outerjoin(_performer, _performer.id == E.performed_by)
        .where(*_of_period(period), E.lot_id == place.lot_id, at_place,
               P.event_id.is_not(None) | ((E.type == COUNT)
                                          & (E.location_id == place.location_id)))
        .subquery("lines")
    )  # fmt: skip


def references(found: Subquery) -> dict[str, Any]:
    """What names a line's patient, prescription and session: each looked up after the lines
    are in order, and only for a line that has one (most have none: a year of a lot is
    mostly administrations outside sessions, and a lookup is per line)."""
    c = found.c

    def of(key: Any, column: Any, model: Any, *joined: Any) -> Any:
        lookup = select(column).select_from(model)
        for table, on in joined:
            lookup = lookup.join(table, on)
        return case((key.is_not(None), lookup.where(model.id == key).scalar_subquery()))

    session_room = (_room, _room.id == TreatmentSession.location_id)
    return {
        "rx_number": of(c.prescription_id, Prescription.rx_number, Prescription),
        "session_scheduled_at": of(c.session_id, TreatmentSession.scheduled_at, TreatmentSession),
        "room": of(c.session_id, _room.name, TreatmentSession, session_room),
        "patient_record_number": of(c.patient_id, Patient.external_id, Patient),
        "patient_given_name": of(c.patient_id, Patient.given_name, Patient),
        "patient_family_name": of(c.patient_id, Patient.family_name, Patient),
    }


def in_order(found: Subquery, *cells: Any) -> Select[*tuple[Any, ...]]:
    """``cells`` of the lines the filters keep, in the order their balances were summed."""
    return (
        select(*cells)
        .where(found.c.acted)
        .order_by(found.c.occurred_at, found.c.is_count, found.c.sequence)
    )  # fmt: skip


def edge(period: Period, place: Place, *, closing: bool) -> Row:
    """A place's opening or closing row."""
    at, balance = (period.end, place.closing) if closing else (period.start, place.opening)
    return {
        **dict.fromkeys(column.name for column in COLUMNS),
        **place.cells(),
        "entry": CLOSING if closing else OPENING,
        "occurred_at": period.scope.local(at),
        "witnesses": [],
        "balance": format_minor(balance),
    }


async def rows(db: AsyncSession, period: Period) -> Chunks:
    """Place by place: its opening, its lines a thousand at a time (their witnesses named
    for the fetch), its closing."""
    connection = await db.connection()
    for place in await places(db, period):
        yield [edge(period, place, closing=False)]
        query = named_lines(period, place).execution_options(yield_per=FETCH_ROWS)
        result = await connection.stream(query)
        async for partition in result.mappings().partitions(FETCH_ROWS):
            yield await witnessed(db, partition, place, period)
        yield [edge(period, place, closing=True)]


def named_lines(period: Period, place: Place) -> Select[*tuple[Any, ...]]:
    """The place's lines in order, with what names their references."""
    found = lines(period, place)
    named = (value.label(name) for name, value in references(found).items())
    return in_order(found, found, *named)


async def witnessed(
    db: AsyncSession, partition: Sequence[RowMapping], place: Place, period: Period
) -> list[Row]:
    """Lines fetched together as rows, their witnesses named in one lookup."""
    within = Within([period.registrant_id], patients_named=period.patients_named)
    witnesses = [[uuid.UUID(w) for w in orjson.loads(row["witness_ids"])] for row in partition]
    names = await within.names(db, staff=(w for found in witnesses for w in found))
    return [_row(row, place, [names.staff[w].name for w in found if w in names.staff], period)
            for row, found in zip(partition, witnesses, strict=True)]  # fmt: skip


def _row(row: RowMapping, place: Place, witnesses: list[str], period: Period) -> Row:
    delta, balance, counted = row["delta"], row["balance"], row["counted"]
    scheduled, role = row["session_scheduled_at"], row["performer_role"]
    return {
        **place.cells(),
        "entry": row["type"],
        "event_id": row["event_id"],
        "sequence": row["sequence"],
        "occurred_at": period.scope.local(row["occurred_at"]),
        "performed_by": row["performed_by"],
        "performer": row["performer_name"],
        "performer_credential": role and credential(role, row["performer_license"]),
        "witnesses": witnesses,
        "patient_id": row["patient_id"],
        "patient": _patient_named(row, period),
        "prescription_id": row["prescription_id"],
        "rx_number": row["rx_number"],
        "session_id": row["session_id"],
        "room": row["room"],
        "session": scheduled and period.scope.local(scheduled),
        "counterparty": row["counterparty"],
        "document_reference": row["document_reference"],
        "quantity_in": format_minor(delta) if delta > 0 else None,
        "quantity_out": format_minor(-delta) if delta < 0 else None,
        "balance": format_minor(balance),
        "counted": None if counted is None else format_minor(counted),
        "variance": None if counted is None else format_minor(counted - balance),
        "reversed_by": row["reversed_by"],
    }


def _patient_named(row: RowMapping, period: Period) -> str | None:
    """By name and record number, or by record number alone for a caller who may not read
    patients (app/catalog/names.py)."""
    number: str | None = row["patient_record_number"]
    if number is None or not period.patients_named:
        return number
    return f"{row['patient_given_name']} {row['patient_family_name']} ({number})"


def source(period: Period) -> RowSource:
    return lambda db: rows(db, period)
