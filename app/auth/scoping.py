"""Tenancy in queries: a list shows only the registrants the caller's token names."""

import uuid
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import NotFound

S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


def within_registrants(
    statement: S, column: Any, principal: Principal, registrant_id: uuid.UUID | None
) -> S:
    """Narrow to ``registrant_id`` (404 unless the token names it), else to the token's own."""
    if registrant_id is not None:
        principal.ensure_registrant(registrant_id)
        return statement.where(column == registrant_id)
    if principal.all_registrants:
        return statement
    return statement.where(column.in_(principal.registrant_ids))


class Owned(Protocol):
    registrant_id: uuid.UUID


Row = TypeVar("Row", bound=Owned)


async def get_scoped(
    db: AsyncSession,
    model: type[Row],
    row_id: uuid.UUID,
    principal: Principal,
    *,
    what: str,
    lock: bool = False,
) -> Row:
    """The row if it belongs to a registrant the caller sees, else 404; locked (FOR UPDATE)
    only after that check, so an id of another registrant never takes a lock."""
    row = await db.get(model, row_id)
    if row is None or not principal.sees(row.registrant_id):
        raise NotFound(f"{what} not found")
    if lock:
        locked = await db.get(model, row_id, with_for_update=True, populate_existing=True)
        assert locked is not None
        return locked
    return row
