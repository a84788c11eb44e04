"""Whose data a refused request was about, when no tenancy check got to ask.

A request refused before its route reads anything (a malformed body, a missing header, a
role without the permission) touched no registrant's data, yet it was aimed at one: the
registrant its body or query names, or the owner of the object its path names. Its audit
rows go to that registrant, so each registrant's trail shows every attempt at its records,
and only requests aimed at nothing that exists go to the platform's trail.

The application names which path parameter names which table (:data:`PathOwners`, built in
``app.main``, the one module that knows every domain); this module only looks them up.
"""

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Table, select

from app.core.db import Database

PathOwners = Mapping[str, Table]
"""Path parameter (``session_id``) -> the table whose rows it names, with a registrant_id."""


def claimed_in_body(body: bytes) -> list[uuid.UUID]:
    """The registrants a JSON object body names: its ``registrant_id``, or those of its
    ``events`` (a batch), each once; only values that are UUIDs."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return []
    if not isinstance(parsed, dict):
        return []
    events = parsed.get("events")
    items = events if isinstance(events, list) and "registrant_id" not in parsed else [parsed]
    named = (as_uuid(item.get("registrant_id")) for item in items if isinstance(item, dict))
    return list(dict.fromkeys(r for r in named if r is not None))


async def owner_of_path(
    database: Database, owners: PathOwners, path_params: Mapping[str, Any]
) -> uuid.UUID | None:
    """The registrant owning the first object the path names that exists."""
    for name, value in path_params.items():
        table, row_id = owners.get(name), as_uuid(value)
        if table is None or row_id is None:
            continue
        async with database.session(write=False) as session:
            owner = await session.scalar(select(table.c.registrant_id).where(table.c.id == row_id))
        if owner is not None:
            return uuid.UUID(str(owner))
    return None


def as_uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
