"""Tenancy for a caller: what its token lets it read, with the registrants in the query
itself (app/core/tenancy.py). A row of a registrant the token does not name answers 404, as if
there were none; a list shows only the token's registrants (docs/tenancy.md)."""

import uuid
from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import NotFound
from app.core.tenancy import Tenanted, find

S = TypeVar("S", bound="Select[*tuple[Any, ...]]")
M = TypeVar("M", bound=Tenanted)


def readable_registrants(principal: Principal) -> Collection[uuid.UUID] | None:
    """The registrants whose rows the caller reads: its token's (None: every registrant, a
    platform admin's "*")."""
    return None if principal.all_registrants else principal.registrant_ids


def within_registrants(
    statement: S, column: Any, principal: Principal, registrant_id: uuid.UUID | None
) -> S:
    """Narrow to ``registrant_id`` (404 unless the token names it), else to the token's own."""
    if registrant_id is not None:
        principal.ensure_registrant(registrant_id)
        return statement.where(column == registrant_id)
    readable = readable_registrants(principal)
    return statement if readable is None else statement.where(column.in_(readable))


async def get_readable(
    db: AsyncSession,
    model: type[M],
    row_id: uuid.UUID,
    principal: Principal,
    *,
    what: str,
    lock: bool = False,
) -> M:
    """The row if it belongs to a registrant the caller reads, else 404 (``what`` not found);
    locked (FOR UPDATE) when asked, which never locks another registrant's row. The request
    is then about the row's registrant (its audit trail, docs/audit.md)."""
    row = await find(db, model, row_id, readable_registrants(principal), lock=lock)
    if row is None:
        raise NotFound(f"{what} not found")
    principal.touches(row.registrant_id)
    return row
