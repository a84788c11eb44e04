"""Who and what a resource names, found at the registrant: patients by identifier (or id),
staff by NPI, products by NDC or compound code or by the sender's own code mapped to one (the
lot is told in records.py, which knows where the stock is). An unknown patient or member of
staff is refused (an integrity rule: records too), pointing at the element that names it; a
product not found leaves the record kept unposted (records.Unposted) until an officer maps it."""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Product
from app.core.quantity import QuantityError, bounded, rounded
from app.integrations.fhir.mapping import Amount, Facts, Medication, PatientRef
from app.integrations.fhir.models import FhirCodeMapping
from app.integrations.fhir.outcome import FhirRefusal, FhirUnknownReference
from app.registry.models import Patient, Staff

COUNTED_UNITS = frozenset({"each", "device"})
"""Inventory units counted whole (a troche, a nasal spray device): never split."""


@dataclass(frozen=True, slots=True)
class References:
    patient: Patient
    performer: Staff | None
    product: Product | None
    """None when the resource names no medication, or one no product here has."""


async def references(
    db: AsyncSession, registrant_id: uuid.UUID, facts: Facts, sender_id: uuid.UUID
) -> References:
    """Every reference the resource makes, found; those it does not make stay None."""
    patient = await _patient(db, registrant_id, facts.patient, facts.at("subject"))
    performer = product = None
    if facts.performer_npi is not None:
        performer = await _staff(db, registrant_id, facts.performer_npi, facts.at("performer"))
    if facts.medication is not None:
        product = await product_named(db, registrant_id, facts.medication, sender_id)
    return References(patient, performer, product)


def _unknown(what: str, expression: str) -> FhirUnknownReference:
    return FhirUnknownReference.at("not-found", f"no {what} at this registrant", expression)


async def _patient(
    db: AsyncSession, registrant_id: uuid.UUID, ref: PatientRef, expression: str
) -> Patient:
    column = Patient.id == ref.id if ref.id is not None else Patient.external_id == ref.external_id
    found = await db.scalar(select(Patient).where(Patient.registrant_id == registrant_id, column))
    if found is None:
        raise _unknown(f"patient {ref.id or ref.external_id}", expression)
    return found


async def _staff(db: AsyncSession, registrant_id: uuid.UUID, npi: str, expression: str) -> Staff:
    found = list(await db.scalars(
        select(Staff).where(Staff.registrant_id == registrant_id, Staff.npi == npi, Staff.active)
    ))  # fmt: skip
    if not found:
        raise _unknown(f"active staff member with NPI {npi}", expression)
    if len(found) > 1:
        raise FhirRefusal.at("multiple-matches", f"several active staff members have NPI {npi}",
                             expression)  # fmt: skip
    return found[0]


async def product_named(
    db: AsyncSession, registrant_id: uuid.UUID, medication: Medication, sender_id: uuid.UUID
) -> Product | None:
    """The registrant's product with the medication's NDC or compound code, else the one the
    sender's mapping of any of its codes names; None when neither names one."""
    for column, value in ((Product.ndc, medication.ndc),
                          (Product.compound_code, medication.compound_code)):  # fmt: skip
        if value is not None:
            found = await db.scalar(
                select(Product).where(Product.registrant_id == registrant_id, column == value)
            )
            if found is not None:
                return found
    for coding in medication.codes:
        mapped = await db.scalar(
            select(Product).join(FhirCodeMapping, FhirCodeMapping.product_id == Product.id)
            .where(FhirCodeMapping.sender_id == sender_id,
                   FhirCodeMapping.system == coding.system, FhirCodeMapping.code == coding.code)
        )  # fmt: skip
        if mapped is not None:
            return mapped
    return None


def inventory_quantity(amount: Amount, product: Product, expression: str) -> Decimal:
    """``amount`` in the product's inventory unit: as is when given in that unit, else from mg
    through the product's strength (as the label states it, base or salt alike); a counted
    unit only whole."""
    unit = amount.unit.strip().lower()
    inventory_unit = product.inventory_unit.lower()
    counted = inventory_unit in COUNTED_UNITS
    strength_mg = product.strength_unit.split("/")[0].strip().lower() == "mg"
    if unit == inventory_unit or (counted and (unit == "1" or unit.startswith("{"))):
        quantity = amount.value
    elif unit == "mg" and strength_mg:
        quantity = rounded(amount.value / product.strength_value)
    else:
        raise FhirRefusal.at("value", f"unit {amount.unit!r} is neither mg nor the product's "
                             f"unit ({product.inventory_unit})", expression)  # fmt: skip
    if quantity <= 0 or (counted and quantity != quantity.to_integral_value()):
        raise FhirRefusal.at("value", f"{amount.value} {amount.unit} is not a whole number of "
                             f"{product.inventory_unit}", expression)  # fmt: skip
    try:
        return bounded(quantity)
    except QuantityError as exc:
        raise FhirRefusal.at("value", f"{amount.value} {amount.unit} is {quantity} "
                             f"{product.inventory_unit}: {exc}", expression) from exc  # fmt: skip
