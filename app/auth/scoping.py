"""Tenancy in queries: a list shows only the registrants the caller's token names."""

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select

from app.auth.principal import Principal

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
