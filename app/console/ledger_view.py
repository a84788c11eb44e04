"""What the ledger pages show, read through the domains' services: a lot's perpetual inventory
at a location (the report's own rows, a page of them at a time), and one event with its names,
its reversal links and its verified inclusion in the latest signed checkpoint."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.catalog.models import Lot, Product
from app.catalog.names import Names
from app.catalog.service import registrant_lots
from app.clinical.sessions.models import TreatmentSession
from app.clinical.sessions.service import get_session
from app.core.errors import NotFound
from app.ledger import inclusion, queries
from app.ledger.inclusion import CheckpointInclusion
from app.ledger.schemas import EventOut
from app.pharmacy.prescriptions.models import Prescription
from app.pharmacy.prescriptions.service import get_prescription
from app.registry.models import Location, Registrant
from app.registry.service import get_registrant, local_date, locations_query
from app.reports import perpetual
from app.reports.perpetual_page import page_of
from app.reports.scope import check_period, report_scope
from app.reports.tabular import Row

DEFAULT_DAYS = 30
PAGE_LINES = 200
"""Movements on a page: a busy lot moves thousands of times in a month."""


@dataclass(frozen=True, slots=True)
class Choices:
    """What the form offers: the registrant's locations and lots (with their products)."""

    locations: list[Location]
    lots: list[tuple[Lot, Product]]


async def choices(db: AsyncSession, principal: Principal, registrant: Registrant) -> Choices:
    query = locations_query(registrant.id, principal=principal, kind=None, active=None)
    locations = list(await db.scalars(query.order_by(Location.name, Location.id)))
    return Choices(locations, await registrant_lots(db, registrant.id, principal=principal))


@dataclass(frozen=True, slots=True)
class Days:
    """The period shown: whole days on the registrant's clock, the last 30 unless asked."""

    first: date
    last: date

    @classmethod
    def asked(cls, registrant: Registrant, now: datetime, first: date | None,
              last: date | None) -> "Days":  # fmt: skip
        last = last or local_date(registrant, now)
        first = first or last - timedelta(days=DEFAULT_DAYS - 1)
        check_period(first, last)
        return cls(first, last)


@dataclass(slots=True)
class Ledger:
    """A lot at a location over the period: the report's opening, one page of its lines, its
    closing (none of them when nothing was there and nothing moved)."""

    days: Days
    page: int
    opening: Row | None = None
    lines: list[Row] | None = None
    closing: Row | None = None
    total: int = 0
    """The period's lines, on every page."""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_LINES))

    @property
    def first_line(self) -> int:
        return (self.page - 1) * PAGE_LINES + 1

    @property
    def names_patients(self) -> bool:
        return any(line["patient"] for line in self.lines or [])


async def perpetual_inventory(
    db: AsyncSession,
    principal: Principal,
    registrant: Registrant,
    *,
    location_id: uuid.UUID,
    lot_id: uuid.UUID,
    days: Days,
    page: int,
    now: datetime,
) -> Ledger:
    """The perpetual inventory report's rows of one place, its balances summed by the report
    (never here): its opening, the lines of ``page``, its closing."""
    scope = await report_scope(db, registrant.id, principal, now,
                               permission=Permission.read_reference)  # fmt: skip
    start, end = scope.day_bounds(days.first, days.last)
    filters = perpetual.Filters(location_id=location_id, lot_id=lot_id)
    period = perpetual.Period(scope, start, end, filters,
                              patients_named=principal.can(Permission.read_patients))  # fmt: skip
    found = await page_of(db, period, offset=(page - 1) * PAGE_LINES, limit=PAGE_LINES)
    return Ledger(days, page, found.opening, found.lines, found.closing, found.total)


def chosen(found: Choices, location_id: uuid.UUID | None,
           lot_id: uuid.UUID | None) -> tuple[Location | None, Lot | None]:  # fmt: skip
    """The location and lot asked for, among the registrant's (another's is not found)."""
    location = next((x for x in found.locations if x.id == location_id), None)
    lot = next((lot for lot, _ in found.lots if lot.id == lot_id), None)
    if (location_id and location is None) or (lot_id and lot is None):
        raise NotFound("location or lot not found")
    return location, lot


@dataclass(frozen=True, slots=True)
class EventPage:
    event: EventOut
    registrant: Registrant
    names: Names
    reversed_by: uuid.UUID | None
    prescription: Prescription | None
    """None as well for one who may not read prescriptions."""
    session: TreatmentSession | None
    """None as well for one who may not read sessions."""
    inclusion: CheckpointInclusion
    patients_named: bool

    @property
    def shows_patient(self) -> bool:
        return self.event.patient_id is not None and self.patients_named


async def event_page(
    db: AsyncSession, principal: Principal, event_id: uuid.UUID, keys: dict[str, dict[str, str]]
) -> EventPage:
    """The event as the API reads it (404 across registrants), and what names it."""
    event = await queries.event_read(db, event_id, principal)
    row = await queries.get_event(db, event_id, principal=principal)
    registrant = await get_registrant(db, event.registrant_id, principal=principal)
    prescription = await _prescription(db, principal, event)
    session = await _session(db, principal, event)
    names = await Names.load(
        db, principal, locations=[event.location_id, event.to_location_id,
                                  session.location_id if session else None],
        lots=[event.lot_id], products=[event.product_id],
        staff=[event.performed_by, *event.witness_ids], patients=[event.patient_id],
    )  # fmt: skip
    return EventPage(
        event=event, registrant=registrant, names=names,
        reversed_by=await queries.reversed_by(db, event), prescription=prescription,
        session=session, inclusion=await inclusion.in_latest_checkpoint(db, row, keys),
        patients_named=principal.can(Permission.read_patients),
    )  # fmt: skip


async def _prescription(
    db: AsyncSession, principal: Principal, event: EventOut
) -> Prescription | None:
    if event.prescription_id is None or not principal.can(Permission.read_prescriptions):
        return None
    return await get_prescription(db, event.prescription_id, principal=principal)


async def _session(
    db: AsyncSession, principal: Principal, event: EventOut
) -> TreatmentSession | None:
    if event.session_id is None or not principal.can(Permission.read_sessions):
        return None
    return await get_session(db, event.session_id, principal=principal)


def offline_commands(registrant_id: uuid.UUID, base_url: str) -> list[str]:
    """How to check the same, offline, with the service's own tool (README: "csledger
    verify --file"): export the ledger, keep the published keys, verify the file."""
    return [
        f"csledger export --registrant {registrant_id} --output ledger.jsonl",
        f"curl -o trusted-jwks.json {base_url.rstrip('/')}/v1/ledger/jwks.json",
        "csledger verify --file ledger.jsonl --keys trusted-jwks.json",
    ]


def lot_label(lot: Lot, product: Product) -> str:
    return f"{lot.lot_number} · {product.name} (expires {lot.expires_on})"


def form_values(**values: Any) -> dict[str, str]:
    """The query a page link keeps (the period, the place), without what is unset."""
    return {key: str(value) for key, value in values.items() if value is not None}
