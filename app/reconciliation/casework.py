"""A discrepancy's case: who works it and what was written on it.

A compliance officer assigns a discrepancy to a member of staff of its registrant (or to
nobody), and reassigns it; each assignment is kept (who gave whom the case, when), the last one
naming its assignee. Nobody steers the case of their own work: whoever the discrepancy is
about neither assigns it nor is assigned it. Notes are append-only: who wrote what, when.
"""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.core.errors import Conflict, InvalidInput
from app.reconciliation import schemas, service
from app.reconciliation.models import Discrepancy, DiscrepancyAssignment, DiscrepancyNote
from app.registry.models import Staff


class AlreadyAssigned(Conflict):
    slug = "already-assigned"
    title = "Already assigned"
    description = "The discrepancy is assigned to that member of staff already."


async def assign(
    db: AsyncSession, discrepancy_id: uuid.UUID, data: schemas.AssignmentCreate, caller: Caller
) -> Discrepancy:
    """Give the case to ``data.staff_id`` (none: to nobody), kept as its next assignment."""
    found = await _workable(db, discrepancy_id, caller)
    await service.not_own_work(db, found, caller.principal)
    if data.staff_id == found.assigned_to:
        raise AlreadyAssigned("the discrepancy is assigned to them already")
    if data.staff_id is not None:
        await _check_assignee(db, found, data.staff_id)
    sequence = len(await assignments_of(db, found.id)) + 1
    db.add(DiscrepancyAssignment(
        id=uuid.uuid4(), registrant_id=found.registrant_id, discrepancy_id=found.id,
        sequence=sequence, staff_id=data.staff_id, by_subject=caller.principal.subject,
        by_name=caller.principal.name, at=caller.now,
    ))  # fmt: skip
    found.assigned_to = data.staff_id
    found.updated_at = caller.now
    await db.flush()
    return found


async def add_note(
    db: AsyncSession, discrepancy_id: uuid.UUID, data: schemas.NoteCreate, caller: Caller
) -> Discrepancy:
    """Write ``data.text`` on the case, signed and dated."""
    found = await _workable(db, discrepancy_id, caller)
    sequence = len(await notes_of(db, found.id)) + 1
    db.add(DiscrepancyNote(
        id=uuid.uuid4(), registrant_id=found.registrant_id, discrepancy_id=found.id,
        sequence=sequence, text=data.text, by_subject=caller.principal.subject,
        by_name=caller.principal.name, at=caller.now,
    ))  # fmt: skip
    await db.flush()
    return found


async def _workable(db: AsyncSession, discrepancy_id: uuid.UUID, caller: Caller) -> Discrepancy:
    """The discrepancy, for a compliance officer of its registrant (locked: its assignments
    and notes are numbered one at a time)."""
    found = await service.get_discrepancy(db, discrepancy_id, principal=caller.principal,
                                          lock=True)  # fmt: skip
    caller.principal.require(Permission.adjust_reverse_resolve)
    return found


async def _check_assignee(db: AsyncSession, found: Discrepancy, staff_id: uuid.UUID) -> None:
    staff = await db.get(Staff, staff_id)
    if staff is None or staff.registrant_id != found.registrant_id:
        raise InvalidInput.at("#/staff_id", "not a member of staff of this registrant")
    if not staff.active:
        raise InvalidInput.at("#/staff_id", f"{staff.name} no longer works here")
    if is_about(found, staff):
        raise InvalidInput.at("#/staff_id", f"the discrepancy is about {staff.name}'s own work")


def is_about(found: Discrepancy, staff: Staff) -> bool:
    """Whether the discrepancy is about ``staff``'s own work (by staff row, or by the subject
    they act as): they are never given it to work."""
    return str(staff.id) in found.staff_ids or bool(
        staff.subject and staff.subject in found.subjects
    )


async def assignments_of(
    db: AsyncSession, discrepancy_id: uuid.UUID
) -> list[DiscrepancyAssignment]:
    rows = await db.scalars(
        select(DiscrepancyAssignment)
        .where(DiscrepancyAssignment.discrepancy_id == discrepancy_id)
        .order_by(DiscrepancyAssignment.sequence)
    )
    return list(rows)


async def notes_of(db: AsyncSession, discrepancy_id: uuid.UUID) -> list[DiscrepancyNote]:
    rows = await db.scalars(
        select(DiscrepancyNote)
        .where(DiscrepancyNote.discrepancy_id == discrepancy_id)
        .order_by(DiscrepancyNote.sequence)
    )
    return list(rows)
