"""Keyset pagination: ``{"items": [...], "next_cursor": ...}`` ordered by creation, then id.

The cursor is opaque to clients (base64url of the last row's key), stable under inserts, and
costs an index range scan rather than an OFFSET. A list route takes its page with the query
parameters of :mod:`app.edge.pagination`.
"""

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.core.errors import FieldError, InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
T = TypeVar("T")
Row = TypeVar("Row")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        """``RegistrantPage`` for ``Page[RegistrantOut]``: the schema's name in the OpenAPI
        document, where ``Page_RegistrantOut_`` would be a generated client's class name."""
        (item,) = params
        return f"{item.__name__.removesuffix('Out')}Page"


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = orjson.loads(raw)
        after = datetime.fromisoformat(created_at)
        if after.tzinfo is None:  # ours always carry an offset; a naive one fails in SQL
            raise ValueError("cursor timestamp without offset")
        return after, uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            "cursor is not one this service issued",
            errors=[FieldError(parameter="cursor", detail="malformed cursor")],
        ) from exc


async def paginate(
    session: AsyncSession,
    statement: Select[Row],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Row], str | None]:
    """One page of ``statement`` (which selects ORM entities) and the cursor of the next."""
    if cursor is not None:
        after_created, after_id = decode_cursor(cursor)
        statement = statement.where(tuple_(created_at, row_id) > (after_created, after_id))
    statement = statement.order_by(created_at, row_id).limit(limit + 1)
    rows = list((await session.scalars(statement)).all())
    if len(rows) <= limit:
        return rows, None
    last: Any = rows[limit - 1]
    return rows[:limit], encode_cursor(getattr(last, created_at.key), getattr(last, row_id.key))


async def page_of(
    session: AsyncSession, statement: Select[Row], model: Any, *, limit: int, cursor: str | None
) -> dict[str, object]:
    """The API's page of ``statement`` over ``model`` (ordered by ``created_at``, then ``id``):
    ``{"items": [...], "next_cursor": ...}``."""
    items, next_cursor = await paginate(
        session, statement, created_at=model.created_at, row_id=model.id, limit=limit,
        cursor=cursor,
    )  # fmt: skip
    return {"items": items, "next_cursor": next_cursor}
