"""A pharmacy's PDMP file for one of its days: the prescriptions it filled that day as new
dispenses, the fills reversed that day as voids, or a zero report; kept as a submission under
the next control number, as generated.
"""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.catalog.models import Product, ProductIngredient
from app.core.config import Settings
from app.core.errors import AppError
from app.core.quantity import format_quantity, rounded
from app.ledger.models import LedgerEvent
from app.ledger.types import EventType
from app.pharmacy.prescriptions.models import Prescription, PrescriptionFill
from app.registry.enums import RegistrantKind
from app.registry.models import Patient, Registrant, Staff
from app.reports import asap
from app.reports.models import PdmpSubmission
from app.reports.scope import Scope

NEW, VOID = "00", "02"
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


async def generate(
    db: AsyncSession, scope: Scope, day: date, settings: Settings, *, by: str
) -> PdmpSubmission:
    """The day's file, stored as a submission under the registrant's next control number
    (its row locked meanwhile, so two files never share one)."""
    registrant = scope.registrant
    if registrant.kind != RegistrantKind.pharmacy.value:
        raise NotAPharmacy(f"{registrant.name} is a {registrant.kind}")
    await db.execute(select(Registrant.id).where(Registrant.id == registrant.id).with_for_update())
    start, end = scope.day_bounds(day, day)
    dispenses = await _reported(db, scope, start, end)
    control = await _next_control_number(db, registrant.id)
    content = asap.file_text(profile(settings), control, scope.local(scope.generated_at),
                             _pharmacy(registrant), dispenses, day)  # fmt: skip
    submission = PdmpSubmission(
        id=uuid.uuid4(), registrant_id=registrant.id, report_date=day, control_number=control,
        dispenses=sum(1 for d in dispenses if d.status == NEW),
        voids=sum(1 for d in dispenses if d.status == VOID), content=content, created_by=by,
        created_at=scope.generated_at,
    )  # fmt: skip
    db.add(submission)
    await db.flush()
    return submission


async def _next_control_number(db: AsyncSession, registrant_id: uuid.UUID) -> str:
    made = await db.scalar(
        select(func.count()).where(PdmpSubmission.registrant_id == registrant_id)
    )
    return f"{(made or 0) + 1:09d}"


def _pharmacy(registrant: Registrant) -> asap.Pharmacy:
    return asap.Pharmacy(npi=registrant.npi or "", ncpdp=registrant.ncpdp or "",
                         dea_number=registrant.dea_number, name=registrant.name,
                         address=registrant.address)  # fmt: skip


async def _reported(
    db: AsyncSession, scope: Scope, start: datetime, end: datetime
) -> list[asap.Dispense]:
    """The day's fills (new) and the fills reversed that day (voids), in the ledger's order."""
    rid = scope.registrant.id
    filled = (LedgerEvent.registrant_id == rid, LedgerEvent.type == EventType.dispense.value,
              LedgerEvent.occurred_at >= start, LedgerEvent.occurred_at < end)  # fmt: skip
    new = await db.execute(_fills().where(*filled).order_by(LedgerEvent.sequence))
    reversals = (
        select(_original.reverses_event_id)
        .where(_original.registrant_id == rid, _original.type == EventType.reversal.value,
               _original.occurred_at >= start, _original.occurred_at < end)
    )  # fmt: skip
    voided = await db.execute(
        _fills().where(LedgerEvent.id.in_(reversals)).order_by(LedgerEvent.sequence)
    )
    rows = [(NEW, row) for row in new] + [(VOID, row) for row in voided]
    ingredients = await _ingredients(db, {row.Product.id for _, row in rows})
    return [_dispense(status, row, ingredients, scope) for status, row in rows]


def _fills() -> Select[*tuple[Any, ...]]:
    pharmacist = aliased(Staff)
    return (
        select(LedgerEvent, PrescriptionFill, Prescription, Patient, Product,
               pharmacist.npi.label("pharmacist_npi"))
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
        partial_fill="01" if fill.partial else "00", pharmacist_npi=row.pharmacist_npi or "",
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
