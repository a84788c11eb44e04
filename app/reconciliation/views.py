"""Discrepancies as the API answers them: each with the names of what it is about beside
the ids, loaded once for a whole page (:class:`app.catalog.names.Names`)."""

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.catalog.names import Names
from app.ledger import queries as ledger_queries
from app.ledger.models import LedgerEvent
from app.reconciliation import casework, schemas, service
from app.reconciliation.models import Discrepancy


async def discrepancies_out(
    db: AsyncSession, principal: Principal, found: Sequence[Discrepancy]
) -> list[schemas.DiscrepancyOut]:
    names = await Names.load(
        db, principal,
        locations=(d.location_id for d in found), lots=(d.lot_id for d in found),
        products=(d.product_id for d in found), patients=(d.patient_id for d in found),
        staff=[*(uuid.UUID(staff_id) for d in found for staff_id in d.staff_ids),
               *(d.assigned_to for d in found)],
    )  # fmt: skip
    return [_named(d, names) for d in found]


def _named(found: Discrepancy, names: Names) -> schemas.DiscrepancyOut:
    out = schemas.DiscrepancyOut.model_validate(found)
    out.location = names.locations.get(found.location_id) if found.location_id else None
    out.lot = names.lots.get(found.lot_id) if found.lot_id else None
    out.product = names.products.get(found.product_id) if found.product_id else None
    out.patient = names.patients.get(found.patient_id) if found.patient_id else None
    out.staff = [names.staff[staff_id] for staff_id in out.staff_ids if staff_id in names.staff]
    out.assignee = names.staff.get(found.assigned_to) if found.assigned_to else None
    return out


async def discrepancy_detail(
    db: AsyncSession, principal: Principal, found: Discrepancy
) -> schemas.DiscrepancyDetailOut:
    """The discrepancy with the ledger events behind it, every transition, and its case: every
    assignment and every note."""
    [out] = await discrepancies_out(db, principal, [found])
    ids = [uuid.UUID(e) for e in found.event_ids]
    events = [e for e in [await db.get(LedgerEvent, i) for i in ids] if e is not None]
    confirmed = await ledger_queries.confirmations_of(db, ids)
    named = principal.can(Permission.read_patients)
    return schemas.DiscrepancyDetailOut(
        **dict(out),
        events=[ledger_queries.event_out(e, confirmed[e.id], patients_named=named)
                for e in events],
        transitions=[schemas.TransitionOut.model_validate(t)
                     for t in await service.transitions_of(db, found.id)],
        assignments=await _assignments_out(db, principal, found),
        notes=[schemas.NoteOut.model_validate(n) for n in await casework.notes_of(db, found.id)],
    )  # fmt: skip


async def _assignments_out(
    db: AsyncSession, principal: Principal, found: Discrepancy
) -> list[schemas.AssignmentOut]:
    kept = await casework.assignments_of(db, found.id)
    names = await Names.load(db, principal, staff=(a.staff_id for a in kept))
    return [
        schemas.AssignmentOut.model_validate(a).model_copy(
            update={"staff": names.staff.get(a.staff_id) if a.staff_id else None}
        )
        for a in kept
    ]
