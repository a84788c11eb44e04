"""The query parameters of a list route's page: ``limit`` and ``cursor``
(:mod:`app.core.pagination` reads the page)."""

from typing import Annotated

from fastapi import Query

from app.core.pagination import MAX_LIMIT
from app.core.schemas import IN_ASCII_DIGITS, QueryText

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page."), IN_ASCII_DIGITS]
Cursor = Annotated[
    QueryText | None, Query(max_length=200, description="`next_cursor` of the previous page.")
]
