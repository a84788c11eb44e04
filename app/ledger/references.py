"""Loading and checking what an event refers to: integrity rules, which refuse every write.

Anything unknown or another registrant's is refused alike (422 ``invalid-reference``), so a
body cannot probe another registrant's ids.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.catalog.models import Lot, Product
from app.registry.models import Location, Patient, Registrant, Staff

_to_location = aliased(Location)
_PRELOAD = (
    select(Registrant, Location, _to_location, Lot, Product, Patient, Staff)
    .select_from(Registrant)
    .where(Registrant.id == bindparam("registrant_id"))
    .outerjoin(Location, Location.id == bindparam("location_id"))
    .outerjoin(_to_location, _to_location.id == bindparam("to_location_id"))
    .outerjoin(Lot, Lot.id == bindparam("lot_id"))
    .outerjoin(Product, Product.id == Lot.product_id)
    .outerjoin(Patient, Patient.id == bindparam("patient_id"))
    .outerjoin(
        Staff,
        and_(Staff.registrant_id == Registrant.id, Staff.subject == bindparam("subject"),
             Staff.active),
    )
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Preloaded:
    """Rows loaded ahead of the checks. Keep it while they run: the session holds loaded rows
    only weakly, and would otherwise forget them before ``session.get`` asks."""

    rows: tuple[Any, ...]

    @property
    def own_staff(self) -> Staff | None:
        """The registrant's active staff member with the caller's token subject."""
        staff: Staff | None = self.rows[-1] if self.rows else None
        return staff


async def preload(
    session: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    location_id: uuid.UUID | None,
    to_location_id: uuid.UUID | None,
    lot_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    subject: str,
) -> Preloaded:
    """Load in one round trip what an append reads by id, and the caller's staff row.

    The rows land in the session, where the checks that follow (:func:`owned`, through
    ``session.get``) find them without a query of their own; they check exactly as before.
    """
    parameters = {"registrant_id": registrant_id, "location_id": location_id,
                  "to_location_id": to_location_id, "lot_id": lot_id,
                  "patient_id": patient_id, "subject": subject}  # fmt: skip
    row = (await session.execute(_PRELOAD, parameters)).one_or_none()
    return Preloaded(tuple(row) if row is not None else ())


@dataclass(frozen=True, slots=True)
class Wanted:
    """Every id a batch of events names, by kind."""

    registrant_ids: set[uuid.UUID]
    location_ids: set[uuid.UUID]
    lot_ids: set[uuid.UUID]
    patient_ids: set[uuid.UUID]
    staff_ids: set[uuid.UUID]


@dataclass(frozen=True, slots=True)
class PreloadedMany:
    """Rows loaded ahead of a batch's checks (kept for the same reason as :class:`Preloaded`)."""

    rows: tuple[Any, ...]
    own_staff: dict[uuid.UUID, Staff]
    """Per registrant, its active staff member with the caller's token subject."""


async def preload_many(session: AsyncSession, wanted: Wanted, *, subject: str) -> PreloadedMany:
    """What a batch's checks read by id, one query per kind, only of ``registrant_ids``.

    The checks themselves are those of a single append; they find these rows in the session.
    """
    registrants = wanted.registrant_ids
    statements = [
        select(Registrant).where(Registrant.id.in_(registrants)),
        select(Location).where(Location.id.in_(wanted.location_ids),
                               Location.registrant_id.in_(registrants)),
        select(Lot).where(Lot.id.in_(wanted.lot_ids), Lot.registrant_id.in_(registrants)),
        select(Product).join(Lot, Lot.product_id == Product.id)
        .where(Lot.id.in_(wanted.lot_ids), Product.registrant_id.in_(registrants)),
        select(Patient).where(Patient.id.in_(wanted.patient_ids),
                              Patient.registrant_id.in_(registrants)),
        select(Staff).where(Staff.registrant_id.in_(registrants),
                            or_(Staff.id.in_(wanted.staff_ids), Staff.subject == subject)),
    ]  # fmt: skip
    rows: list[Any] = []
    for statement in statements:
        rows.extend(await session.scalars(statement))
    own_staff = {row.registrant_id: row for row in rows
                 if isinstance(row, Staff) and row.subject == subject and row.active}  # fmt: skip
    return PreloadedMany(tuple(rows), own_staff)


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
    invoice_received_before: bool = False
    """On a receipt: whether its invoice is on the ledger already."""


def snapshot(refs: EventReferences, counterparty: dict[str, Any] | None) -> dict[str, Any]:
    """The DEA-record facts as of the event (docs/domain.md#snapshot), in plain JSON types."""
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
        "performer": person(refs.performer),
        "counted_by": person(refs.counter),
        "witnesses": [person(w) for w in refs.witnesses],
        "counterparty": counterparty,
    }


def person(staff: Staff | None) -> dict[str, Any] | None:
    if staff is None:
        return None
    return {"id": str(staff.id), "name": staff.name, "role": staff.role, "npi": staff.npi}
