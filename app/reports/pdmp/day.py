"""A pharmacy's PDMP file for one of its days: the prescriptions it filled that day as new
dispenses, the fills reversed that day as voids, or a zero report; kept as a submission under
the next control number, as generated.
"""

import hashlib
import uuid
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
from app.reports.pdmp.models import PdmpSubmission
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
    """The day's file, stored as a submission under the registrant's next control number. The
    same day asked again with nothing changed is the same submission (a retried request sends
    nothing twice); a day with a fill entered or reversed since is a new one."""
    registrant = scope.registrant
    if registrant.kind != RegistrantKind.pharmacy.value:
        raise NotAPharmacy(f"{registrant.name} is a {registrant.kind}")
    if day >= scope.local(scope.generated_at).date():
        detail = "a day is reported once it has ended"
        raise InvalidInput(detail, errors=[FieldError(parameter="date", detail=detail)])
    # Two files never share a control number; ledger writes (which only share the row's key)
    # go on meanwhile.
    await db.execute(select(Registrant.id).where(Registrant.id == registrant.id)
                     .with_for_update(key_share=True))  # fmt: skip
    start, end = scope.day_bounds(day, day)
    dispenses = await _reported(db, scope, start, end)
    state = profile(settings)
    digest = hashlib.sha256(repr((state, registrant.dea_number, day, dispenses)).encode())
    previous = await db.scalar(
        select(PdmpSubmission)
        .where(PdmpSubmission.registrant_id == registrant.id, PdmpSubmission.report_date == day)
        .order_by(PdmpSubmission.created_at.desc(), PdmpSubmission.control_number.desc())
        .limit(1)
    )
    if previous is not None and previous.detail_sha256 == digest.hexdigest():
        return previous
    control = await _next_control_number(db, registrant.id)
    content = asap.file_text(state, control, scope.local(scope.generated_at),
                             _pharmacy(registrant), dispenses, day)  # fmt: skip
    submission = PdmpSubmission(
        id=uuid.uuid4(), registrant_id=registrant.id, report_date=day, control_number=control,
        dispenses=sum(1 for d in dispenses if d.status == NEW),
        voids=sum(1 for d in dispenses if d.status == VOID), content=content,
        content_sha256=hashlib.sha256(content.encode()).hexdigest(),
        detail_sha256=digest.hexdigest(), created_by=by, created_at=scope.generated_at,
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
