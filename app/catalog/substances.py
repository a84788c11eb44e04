"""Facts about the controlled substances and how their products are counted."""

from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple


class Substance(StrEnum):
    ketamine = "ketamine"
    esketamine = "esketamine"


class Controlled(NamedTuple):
    dea_code: str
    schedule: str


CONTROLS: dict[Substance, Controlled] = {
    # 21 CFR 1308.13(c): ketamine, its salts and isomers (esketamine is one).
    Substance.ketamine: Controlled(dea_code="7285", schedule="3N"),
    Substance.esketamine: Controlled(dea_code="7285", schedule="3N"),
}


class DosageForm(StrEnum):
    injection = "injection"
    nasal_spray = "nasal_spray"
    troche = "troche"
    rapid_dissolve_tablet = "rapid_dissolve_tablet"
    capsule = "capsule"
    bulk_powder = "bulk_powder"


class InventoryUnit(StrEnum):
    mL = "mL"
    device = "device"
    each = "each"
    g = "g"


class StrengthBasis(StrEnum):
    base = "base"
    salt = "salt"


INVENTORY_UNIT_OF_FORM: dict[DosageForm, InventoryUnit] = {
    DosageForm.injection: InventoryUnit.mL,
    DosageForm.nasal_spray: InventoryUnit.device,
    DosageForm.troche: InventoryUnit.each,
    DosageForm.rapid_dissolve_tablet: InventoryUnit.each,
    DosageForm.capsule: InventoryUnit.each,
    DosageForm.bulk_powder: InventoryUnit.g,
}

STRENGTH_UNIT_OF_INVENTORY_UNIT: dict[InventoryUnit, str] = {
    InventoryUnit.mL: "mg/mL",
    InventoryUnit.device: "mg",
    InventoryUnit.each: "mg",
    InventoryUnit.g: "mg/g",
}
"""Strength as the label states it is mg per inventory unit, so one number serves both."""


BASE_PER_SALT: dict[Substance, Decimal] = {
    Substance.ketamine: Decimal("0.8674"),
    Substance.esketamine: Decimal("0.8674"),
}
"""mg of base in 1 mg of the hydrochloride salt (docs/domain.md#strength-base-and-salt): bulk
powder is the salt, injection and esketamine labels state the base."""


def base_mg(mg: Decimal, substance: str, basis: str) -> Decimal:
    """``mg`` of a product whose strength has ``basis``, as mg of the base."""
    if basis == StrengthBasis.salt:
        return mg * BASE_PER_SALT[Substance(substance)]
    return mg
