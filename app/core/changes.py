"""Partial updates (PATCH): apply only the fields a client sent."""

from typing import Any

from pydantic import BaseModel

from app.core.errors import FieldError, InvalidInput


def sent_changes(body: BaseModel, *, required: frozenset[str]) -> dict[str, Any]:
    """The fields the client sent, refusing ``null`` for fields that cannot be empty."""
    changes = body.model_dump(exclude_unset=True)
    nulled = sorted(name for name in required if name in changes and changes[name] is None)
    if nulled:
        raise InvalidInput(
            "these fields cannot be null",
            errors=[FieldError(pointer=f"#/{name}", detail="cannot be null") for name in nulled],
        )
    if not changes:
        raise InvalidInput("nothing to change: send at least one field")
    return changes


def apply_changes(target: object, changes: dict[str, Any]) -> bool:
    """Set each changed attribute; True when anything differs from what was stored."""
    differs = False
    for name, value in changes.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            differs = True
    return differs
