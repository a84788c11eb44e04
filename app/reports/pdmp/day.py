"""A pharmacy's day as its PDMP takes it: the prescriptions it filled that day as new
dispenses, the fills reversed that day as voids, or a zero report; and the ASAP file of that
day, under a control number or as a preview."""

import dataclasses
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.catalog.models import Product, ProductIngredient
from app.core.config import Settings
from app.core.errors import AppError, FieldError, InvalidInput
from app.core.quantity import format_quantity, rounded
from app.ledger.models import LedgerEvent
from app.ledger.types import EventType
from app.pharmacy.prescriptions.models import Prescription, PrescriptionFill
from app.registry.enums import RegistrantKind
from app.registry.models import Patient, Registrant, Staff
from app.reports.pdmp import asap
from app.reports.scope import Scope

NEW, VOID = "00", "02"
PREVIEW_CONTROL_NUMBER = "000000000"
"""TH02 of a preview: a number never issued, since a pharmacy's files are numbered from 1."""
PREVIEW_FILE_TYPE = "T"
"""TH07 of a preview: a test file, which a state that received one by mistake would process
as a test and keep nothing of."""
_original = aliased(LedgerEvent)


class NotAPharmacy(AppError):
    slug = "not-a-pharmacy"
    status = 422
    title = "Not a pharmacy"
    description = "Only a pharmacy reports its dispenses to a PDMP."


def profile(settings: Settings) -> asap.Profile:
    return asap.Profile(
        version=settings.pdmp_asap_version,
        segment_terminator=settings.pdmp_segment_terminator,
        compound_qualifier=settings.pdmp_compound_qualifier,
        zero_report=asap.ZeroReport(settings.pdmp_zero_report),
        file_type=settings.pdmp_file_type,
    )


@dataclass(frozen=True, slots=True)
class DayReport:
    """What one of a pharmacy's days reports, in its state's profile."""

    scope: Scope
    day: date
    profile: asap.Profile
    dispenses: Sequence[asap.Dispense]

    @property
    def new_count(self) -> int:
        """How many dispenses it reports as new (DSP01 ``00``)."""
        return sum(1 for d in self.dispenses if d.status == NEW)

    @property
    def void_count(self) -> int:
        """How many earlier dispenses it voids (DSP01 ``02``)."""
        return sum(1 for d in self.dispenses if d.status == VOID)

    @property
    def detail_sha256(self) -> str:
        """What the file reports (profile, pharmacy, day, dispenses), whatever its control
        number and time of creation."""
        reported = (self.profile, self.scope.registrant.dea_number, self.day, self.dispenses)
        return hashlib.sha256(repr(reported).encode()).hexdigest()

    def file(self, control_number: str) -> str:
        """The file to send under ``control_number``, created at the scope's instant."""
        return self._file(self.profile, control_number)

    def preview(self) -> str:
        """The file as it would be sent, marked so that it is never taken for one that was:
        a test file (TH07 ``T``) under a control number never issued."""
        test = dataclasses.replace(self.profile, file_type=PREVIEW_FILE_TYPE)
        return self._file(test, PREVIEW_CONTROL_NUMBER)

    def _file(self, state: asap.Profile, control_number: str) -> str:
        created_at = self.scope.local(self.scope.generated_at)
        pharmacy = _pharmacy(self.scope.registrant)
        return asap.file_text(state, control_number, created_at, pharmacy, self.dispenses,
                              self.day)  # fmt: skip


def ensure_pharmacy(registrant: Registrant) -> None:
    if registrant.kind != RegistrantKind.pharmacy.value:
        raise NotAPharmacy(f"{registrant.name} is a {registrant.kind}")


def ensure_ended(scope: Scope, day: date, *, field: str) -> None:
    """A day is reported once it has ended on the registrant's clock. ``field`` names where
    the day was given: a query parameter (``date``) or a pointer into the body."""
    if day >= scope.local(scope.generated_at).date():
        detail = "a day is reported once it has ended"
        at = {"pointer": field} if field.startswith("#/") else {"parameter": field}
        raise InvalidInput(detail, errors=[FieldError(detail=detail, **at)])


async def day_report(
    db: AsyncSession, scope: Scope, day: date, settings: Settings, *, field: str
) -> DayReport:
    """What the pharmacy's ``day`` reports (a day that has ended: see :func:`ensure_ended`)."""
    ensure_pharmacy(scope.registrant)
    ensure_ended(scope, day, field=field)
    start, end = scope.day_bounds(day, day)
    return DayReport(scope, day, profile(settings), await _reported(db, scope, start, end))


def _pharmacy(registrant: Registrant) -> asap.Pharmacy:
    return asap.Pharmacy(npi=registrant.npi or "", ncpdp=registrant.ncpdp or "",
                         dea_number=registrant.dea_number, name=registrant.name,
                         address=registrant.address)  # fmt: skip


async def _reported(
    db: AsyncSession, scope: Scope, start: datetime, end: datetime
) -> list[asap.Dispense]:
    """The day's fills (new) and the fills reversed that day (voids), in the ledger's order;
    a fill reversed the day it was made is neither (nothing was dispensed)."""
    rid = scope.registrant.id
    that_day = (LedgerEvent.occurred_at >= start, LedgerEvent.occurred_at < end)
    reversed_that_day = (
        select(_original.reverses_event_id)
        .where(_original.registrant_id == rid, _original.type == EventType.reversal.value,
               _original.occurred_at >= start, _original.occurred_at < end)
    )  # fmt: skip
    new = await db.execute(
        _fills()
        .where(LedgerEvent.registrant_id == rid, LedgerEvent.type == EventType.dispense.value,
               *that_day, LedgerEvent.id.not_in(reversed_that_day))
        .order_by(LedgerEvent.sequence)
    )  # fmt: skip
    voided = await db.execute(
        _fills().where(LedgerEvent.id.in_(reversed_that_day), ~and_(*that_day))
        .order_by(LedgerEvent.sequence)
    )  # fmt: skip
    rows = [(NEW, row) for row in new] + [(VOID, row) for row in voided]
    ingredients = await _ingredients(db, {row.Product.id for _, row in rows})
    return [_dispense(status, row, ingredients, scope) for status, row in rows]


async def first_fill_day(db: AsyncSession, scope: Scope) -> date | None:
    """The day the pharmacy first filled a prescription: it has reported to its PDMP since."""
    first = await db.scalar(_fill_instants(scope).order_by(LedgerEvent.occurred_at).limit(1))
    return None if first is None else scope.local(first).date()


async def days_with_fills(db: AsyncSession, scope: Scope, first: date, last: date) -> set[date]:
    """The days from ``first`` to ``last`` whose file has more than a zero report to carry: a
    prescription filled, or a fill reversed (see :func:`_reported`)."""
    start, end = scope.day_bounds(first, last)
    filled = _fill_instants(scope).where(LedgerEvent.occurred_at >= start,
                                         LedgerEvent.occurred_at < end)  # fmt: skip
    undone = (
        select(_original.occurred_at)
        .join(PrescriptionFill, PrescriptionFill.event_id == _original.reverses_event_id)
        .where(_original.registrant_id == scope.registrant.id,
               _original.type == EventType.reversal.value,
               _original.occurred_at >= start, _original.occurred_at < end)
    )  # fmt: skip
    instants = [*await db.scalars(filled), *await db.scalars(undone)]
    return {scope.local(instant).date() for instant in instants}


def _fill_instants(scope: Scope) -> Select[datetime]:
    return (
        select(LedgerEvent.occurred_at)
        .join(PrescriptionFill, PrescriptionFill.event_id == LedgerEvent.id)
        .where(LedgerEvent.registrant_id == scope.registrant.id,
               LedgerEvent.type == EventType.dispense.value)
    )  # fmt: skip


def _fills() -> Select[*tuple[Any, ...]]:
    pharmacist = aliased(Staff)
    earlier = aliased(PrescriptionFill)
    # DSP13 numbers the partial fills of a prescription's filling: 01, 02, ...
    partial_number = (
        select(func.count())
        .where(earlier.prescription_id == PrescriptionFill.prescription_id,
               earlier.refill_number == PrescriptionFill.refill_number,
               earlier.partial.is_(True), earlier.filled_at <= PrescriptionFill.filled_at)
        .correlate(PrescriptionFill)
        .scalar_subquery()
    )  # fmt: skip
    return (
        select(LedgerEvent, PrescriptionFill, Prescription, Patient, Product,
               pharmacist.npi.label("pharmacist_npi"), partial_number.label("partial_number"))
        .join(PrescriptionFill, PrescriptionFill.event_id == LedgerEvent.id)
        .join(Prescription, Prescription.id == PrescriptionFill.prescription_id)
        .join(Patient, Patient.id == Prescription.patient_id)
        .join(Product, Product.id == LedgerEvent.product_id)
        .join(pharmacist, pharmacist.id == PrescriptionFill.dispensed_by)
    )  # fmt: skip


async def _ingredients(
    db: AsyncSession, product_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[ProductIngredient]]:
    found: dict[uuid.UUID, list[ProductIngredient]] = {}
    for ingredient in await db.scalars(
        select(ProductIngredient).where(ProductIngredient.product_id.in_(product_ids))
        .order_by(ProductIngredient.product_id, ProductIngredient.position)
    ):  # fmt: skip
        found.setdefault(ingredient.product_id, []).append(ingredient)
    return found


def _dispense(
    status: str, row: Any, ingredients: dict[uuid.UUID, list[ProductIngredient]], scope: Scope
) -> asap.Dispense:
    fill: PrescriptionFill = row.PrescriptionFill
    rx: Prescription = row.Prescription
    patient: Patient = row.Patient
    product: Product = row.Product
    prescriber_first, prescriber_last = _first_and_last(rx.prescriber["name"])
    return asap.Dispense(
        status=status, patient_id=str(patient.id), patient_last=patient.family_name,
        patient_first=patient.given_name, patient_address=patient.address,
        date_of_birth=patient.date_of_birth, gender=patient.sex, rx_number=rx.rx_number,
        written_on=rx.issued_on, refills_authorized=rx.refills_authorized,
        filled_on=scope.local(fill.filled_at).date(), refill_number=fill.refill_number,
        product_id=product.ndc, quantity=format_quantity(fill.quantity),
        days_supply=rx.days_supply, unit_code=asap.UNIT_CODES[product.inventory_unit],
        transmission_code=asap.TRANSMISSION_CODES[rx.transmission],
        partial_fill=f"{row.partial_number:02d}" if fill.partial else "00",
        pharmacist_npi=row.pharmacist_npi or "",
        prescriber_npi=rx.prescriber.get("npi") or "",
        prescriber_dea_number=rx.prescriber_dea_number, prescriber_last=prescriber_last,
        prescriber_first=prescriber_first,
        ingredients=[] if product.ndc else [
            _ingredient(i, fill.quantity) for i in ingredients.get(product.id, [])
        ],
    )  # fmt: skip


def _ingredient(ingredient: ProductIngredient, units: Decimal) -> asap.Ingredient:
    """An ingredient's amount in what was dispensed (it is given per unit), in grams when it
    is given by weight; one without an NDC is named by the compound product id."""
    amount = ingredient.quantity * units
    product_id = ingredient.ndc or asap.NO_NDC
    if ingredient.unit == "mg":
        return asap.Ingredient(product_id, format_quantity(rounded(amount / 1000)), "03")
    return asap.Ingredient(product_id, format_quantity(amount),
                           asap.UNIT_CODES.get(ingredient.unit, "01"))  # fmt: skip


def _first_and_last(name: str) -> tuple[str, str]:
    """A name as written ("Grace Hopper, MD") as first and last name (credentials left)."""
    words = name.split(",")[0].split()
    return " ".join(words[:-1]), words[-1] if words else ""
