"""Who did what a request records: the registrant's active staff, named by id or by the
caller's token (nobody records someone else's work)."""

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.db import held
from app.core.errors import FieldError, InvalidInput
from app.core.tenancy import InvalidReference, invalid, referenced
from app.registry.models import Staff


async def owned_staff(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, registrant_id: uuid.UUID, pointer: str
) -> list[Staff]:
    """Staff rows in the order of ``ids``, all active members of the registrant (those the
    session holds already read without a round trip, the rest in one query)."""
    if not ids:
        return []
    rows = {staff_id: row for staff_id in ids if (row := held(session, Staff, staff_id))}
    missing = [staff_id for staff_id in ids if staff_id not in rows]
    if missing:
        statement = select(Staff).where(Staff.id.in_(missing), Staff.registrant_id == registrant_id)
        rows.update((row.id, row) for row in await session.scalars(statement))
    found = {staff_id: row for staff_id, row in rows.items()
             if row.active and row.registrant_id == registrant_id}  # fmt: skip
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


async def acting_staff(
    session: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    named: uuid.UUID | None,
    principal: Principal,
    pointer: str,
) -> Staff:
    """Who did what a request records: the active staff member an integration names, or the
    caller's own active staff row (nobody else records someone else's work)."""
    if principal.is_integration:
        if named is None:
            raise InvalidInput.at(pointer, "an integration names the staff member who did it")
        named_staff = await referenced(session, Staff, named, registrant_id=registrant_id,
                                       pointer=pointer, what="staff member")  # fmt: skip
        if not named_staff.active:
            raise invalid(pointer, "active staff member")
        return named_staff
    staff = await staff_of_subject(session, registrant_id=registrant_id, subject=principal.subject)
    if staff is None:
        raise invalid(pointer, "active staff member with your token's subject")
    if named not in (None, staff.id):
        detail = "you record what you did yourself, not another staff member's work"
        raise InvalidReference(detail, errors=[FieldError(pointer=pointer, detail=detail)])
    return staff
