"""What a person recognises beside an id: a location's name, a lot's number and expiry, a
product's name, code and strength, a staff member's name and credential, a patient's name.

An answer that names rows by id gathers the ids it holds, loads their names in one query per
kind (:meth:`Names.load`), and sets each beside its id. Names are read within the caller's
registrants, and a patient's name only for a caller who may read patients: another caller
gets the patient's id and record number alone. A report, which reads in a transaction of its
own, names rows within its registrant (:meth:`Within.report`).
"""

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import readable_registrants
from app.catalog.models import Lot, Product
from app.catalog.substances import InventoryUnit
from app.core.quantity import format_quantity
from app.core.schemas import OutputModel
from app.core.tenancy import of_registrants
from app.registry.enums import LocationKind, StaffRole
from app.registry.models import Location, Patient, Staff


class LocationName(OutputModel):
    id: uuid.UUID
    name: str
    kind: LocationKind


class LotName(OutputModel):
    id: uuid.UUID
    lot_number: str
    expires_on: date


class ProductName(OutputModel):
    id: uuid.UUID
    name: str
    code: str = Field(description="The NDC, or the compound code of a compounded product")
    strength: str = Field(examples=["50 mg/mL"])
    dosage_form: str
    unit: InventoryUnit = Field(description="What its quantities count (the product's "
                                "inventory_unit)", examples=["mL"])  # fmt: skip


class StaffName(OutputModel):
    id: uuid.UUID
    name: str
    role: StaffRole
    state_license: str | None


class PatientName(OutputModel):
    id: uuid.UUID
    external_id: str = Field(description="The registrant's own record number for the patient")
    name: str | None = Field(
        description="Given and family name; null for a caller who may not read patients"
    )


@dataclass(slots=True)
class Names:
    """The names of the rows one answer mentions, by id."""

    locations: dict[uuid.UUID, LocationName] = field(default_factory=dict)
    lots: dict[uuid.UUID, LotName] = field(default_factory=dict)
    products: dict[uuid.UUID, ProductName] = field(default_factory=dict)
    staff: dict[uuid.UUID, StaffName] = field(default_factory=dict)
    patients: dict[uuid.UUID, PatientName] = field(default_factory=dict)
    units: dict[uuid.UUID, str] = field(default_factory=dict)
    """Each product's inventory unit, which its quantities are in (for words, such as a
    finding's: "short by 4 mL"; no answer's field)."""

    @classmethod
    async def load(
        cls,
        db: AsyncSession,
        principal: Principal,
        *,
        locations: Iterable[uuid.UUID | None] = (),
        lots: Iterable[uuid.UUID | None] = (),
        products: Iterable[uuid.UUID | None] = (),
        staff: Iterable[uuid.UUID | None] = (),
        patients: Iterable[uuid.UUID | None] = (),
    ) -> "Names":
        """The names of the given ids (``None`` ignored) that the caller may read."""
        within = Within(readable_registrants(principal), principal.can(Permission.read_patients))
        return await within.names(db, locations=locations, lots=lots, products=products,
                                  staff=staff, patients=patients)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Within:
    """Where names are read: the registrants (None: any), and whether patients are named."""

    registrants: Collection[uuid.UUID] | None
    patients_named: bool

    @classmethod
    def report(cls, registrant_id: uuid.UUID) -> "Within":
        """A registrant's report of its own records, which names no patient beyond its record
        number unless the report is one that must (the dispensing log names them itself)."""
        return cls([registrant_id], patients_named=False)

    async def names(
        self,
        db: AsyncSession,
        *,
        locations: Iterable[uuid.UUID | None] = (),
        lots: Iterable[uuid.UUID | None] = (),
        products: Iterable[uuid.UUID | None] = (),
        staff: Iterable[uuid.UUID | None] = (),
        patients: Iterable[uuid.UUID | None] = (),
    ) -> Names:
        loaded = Names()
        for row in await self._rows(db, Location, locations):
            loaded.locations[row.id] = LocationName(id=row.id, name=row.name, kind=row.kind)
        for row in await self._rows(db, Lot, lots):
            loaded.lots[row.id] = LotName(id=row.id, lot_number=row.lot_number,
                                          expires_on=row.expires_on)  # fmt: skip
        for row in await self._rows(db, Product, products):
            loaded.products[row.id] = product_name(row)
            loaded.units[row.id] = row.inventory_unit
        for row in await self._rows(db, Staff, staff):
            loaded.staff[row.id] = StaffName(id=row.id, name=row.name, role=row.role,
                                             state_license=row.state_license)  # fmt: skip
        for row in await self._rows(db, Patient, patients):
            loaded.patients[row.id] = PatientName(
                id=row.id, external_id=row.external_id,
                name=f"{row.given_name} {row.family_name}" if self.patients_named else None,
            )  # fmt: skip
        return loaded

    async def _rows(
        self, db: AsyncSession, model: Any, ids: Iterable[uuid.UUID | None]
    ) -> list[Any]:
        wanted = {row_id for row_id in ids if row_id is not None}
        if not wanted:
            return []
        statement = of_registrants(model, self.registrants).where(model.id.in_(wanted))
        return list(await db.scalars(statement))


def credential(role: str, state_license: str | None) -> str:
    """A staff member's credential as a record prints it: their role, and their state
    license where they hold one ("nurse, license RN-1")."""
    return f"{role}, license {state_license}" if state_license else str(role)


def product_name(product: Product) -> ProductName:
    code = product.ndc or product.compound_code or ""
    strength = f"{format_quantity(product.strength_value)} {product.strength_unit}"
    return ProductName(id=product.id, name=product.name, code=code, strength=strength,
                       dosage_form=product.dosage_form,
                       unit=InventoryUnit(product.inventory_unit))  # fmt: skip
