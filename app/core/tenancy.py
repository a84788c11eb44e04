"""Tenancy in the query: every row of a registrant's data names its registrant, and every read
of such a row by id asks for it together with the registrants it may belong to, so another
registrant's row is never returned (docs/tenancy.md).

Two answers follow from one lookup (:func:`find`): a row the caller may not read is 404, as
if it did not exist (:func:`app.auth.tenancy.get_readable`); an id in a request's body naming
a row of another registrant than the one written to is 422 ``invalid-reference``
(:func:`referenced`), so a body cannot probe another registrant's ids either.
"""

import uuid
from collections.abc import Collection
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import held
from app.core.errors import AppError, FieldError


class Tenanted(Protocol):
    """A row of one registrant's data."""

    id: Any
    registrant_id: Any


M = TypeVar("M", bound=Tenanted)


class InvalidReference(AppError):
    slug = "invalid-reference"
    status = 422
    title = "Invalid reference"
    description = "An id in the request names nothing this registrant owns."


def invalid(pointer: str, what: str) -> InvalidReference:
    """The refusal of an id at ``pointer`` that names no ``what`` of the registrant."""
    detail = f"no such {what} at this registrant"
    return InvalidReference(detail, errors=[FieldError(pointer=pointer, detail=detail)])


def of_registrants(model: type[M], registrant_ids: Collection[uuid.UUID] | None) -> Select[M]:
    """The rows of ``model`` that belong to ``registrant_ids`` (None: to any registrant, for a
    platform admin alone)."""
    statement = select(model)
    if registrant_ids is None:
        return statement
    column: Any = model.registrant_id
    return statement.where(column.in_(list(registrant_ids)))


async def find(
    session: AsyncSession,
    model: type[M],
    row_id: uuid.UUID,
    registrant_ids: Collection[uuid.UUID] | None,
    *,
    lock: bool = False,
) -> M | None:
    """The row ``row_id`` of ``model`` if it belongs to ``registrant_ids``, else None; locked
    (FOR UPDATE, read afresh) when asked, which never locks another registrant's row. A row
    the session holds already is answered without a round trip, by the same test."""
    if not lock and (row := held(session, model, row_id)) is not None:
        ours = registrant_ids is None or row.registrant_id in registrant_ids
        return row if ours else None
    id_column: Any = model.id
    statement = of_registrants(model, registrant_ids).where(id_column == row_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    found: M | None = await session.scalar(statement)
    return found


async def referenced(
    session: AsyncSession,
    model: type[M],
    row_id: uuid.UUID,
    *,
    registrant_id: uuid.UUID,
    pointer: str,
    what: str,
) -> M:
    """The row a request's body names at ``pointer``, a ``what`` of ``registrant_id``, or 422."""
    row = await find(session, model, row_id, (registrant_id,))
    if row is None:
        raise invalid(pointer, what)
    return row
