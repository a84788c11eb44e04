"""Loading and checking what an event refers to: integrity rules, which refuse every write.

Anything unknown or another registrant's is refused alike (422 ``invalid-reference``), so a
body cannot probe another registrant's ids.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Lot, Product
from app.core.errors import AppError, FieldError
from app.registry.models import Location, Patient, Registrant, Staff

Model = TypeVar("Model", Location, Lot, Patient, Staff, Product)


class InvalidReference(AppError):
    slug = "invalid-reference"
    status = 422
    title = "Invalid reference"
    description = "An id in the request names nothing this registrant owns."


def invalid(pointer: str, what: str) -> InvalidReference:
    detail = f"no such {what} at this registrant"
    return InvalidReference(detail, errors=[FieldError(pointer=pointer, detail=detail)])


async def owned(
    session: AsyncSession,
    model: type[Model],
    row_id: uuid.UUID,
    *,
    registrant_id: uuid.UUID,
    pointer: str,
) -> Model:
    row = await session.get(model, row_id)
    if row is None or row.registrant_id != registrant_id:
        raise invalid(pointer, model.__tablename__.rstrip("s"))
    return row


async def owned_staff(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, registrant_id: uuid.UUID, pointer: str
) -> list[Staff]:
    """Staff rows in the order of ``ids``, all active members of the registrant."""
    if not ids:
        return []
    rows = (
        await session.scalars(
            select(Staff).where(Staff.id.in_(ids), Staff.registrant_id == registrant_id)
        )
    ).all()
    found = {row.id: row for row in rows if row.active}
    for index, staff_id in enumerate(ids):
        if staff_id not in found:
            raise invalid(f"{pointer}/{index}", "active staff member")
    return [found[staff_id] for staff_id in ids]


async def staff_of_subject(
    session: AsyncSession, *, registrant_id: uuid.UUID, subject: str
) -> Staff | None:
    return await session.scalar(
        select(Staff).where(
            Staff.registrant_id == registrant_id, Staff.subject == subject, Staff.active
        )
    )


@dataclass(frozen=True, slots=True)
class EventReferences:
    registrant: Registrant
    location: Location
    to_location: Location | None
    lot: Lot
    product: Product
    patient: Patient | None
    performer: Staff | None
    witnesses: list[Staff]
    counter: Staff | None = None
    """On a count: who counted."""
    sent_transfer: Any = None
    """On a transfer_in: the sender's transfer_out (a LedgerEvent)."""


def snapshot(refs: EventReferences, counterparty: dict[str, Any] | None) -> dict[str, Any]:
    """The DEA-record facts as of the event (DESIGN.md), in plain JSON types."""
    product, lot, patient = refs.product, refs.lot, refs.patient
    return {
        "registrant": {
            "name": refs.registrant.name,
            "dea_number": refs.registrant.dea_number,
            "address": refs.registrant.address,
        },
        "location": {"name": refs.location.name, "kind": refs.location.kind},
        "to_location": (
            {"name": refs.to_location.name, "kind": refs.to_location.kind}
            if refs.to_location
            else None
        ),
        "product": {
            "name": product.name,
            "substance": product.substance,
            "dea_code": product.dea_code,
            "schedule": product.schedule,
            "ndc": product.ndc,
            "compound_code": product.compound_code,
            "dosage_form": product.dosage_form,
            "strength": str(product.strength_value),
            "strength_unit": product.strength_unit,
            "strength_basis": product.strength_basis,
            "inventory_unit": product.inventory_unit,
            "package_size": str(product.package_size),
        },
        "lot": {"lot_number": lot.lot_number, "expires_on": lot.expires_on.isoformat()},
        "patient": (
            {
                "name": f"{patient.given_name} {patient.family_name}",
                "address": patient.address,
                "date_of_birth": patient.date_of_birth.isoformat(),
            }
            if patient
            else None
        ),
        "performer": _person(refs.performer),
        "counted_by": _person(refs.counter),
        "witnesses": [_person(w) for w in refs.witnesses],
        "counterparty": counterparty,
    }


def _person(staff: Staff | None) -> dict[str, Any] | None:
    if staff is None:
        return None
    return {"id": str(staff.id), "name": staff.name, "role": staff.role, "npi": staff.npi}
