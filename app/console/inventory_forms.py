"""The inventory pages' forms read strictly into the API's own bodies: a field that is not
what it must be is refused with words naming it, never guessed."""

import re
import uuid
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from app.core.errors import FieldError, InvalidInput
from app.core.instants import InstantError, checked_instant
from app.core.quantity import QuantityError, parse_quantity
from app.ledger.inventories.schemas import EntryCount, InventoryCreate, InventoryVoid
from app.ledger.schemas import CountExactness, CountTime, InventoryKind

_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")
"""What a browser's datetime-local field sends: a wall-clock time, without a zone."""


def local_now(now: datetime, zone: str) -> str:
    """``now`` on the registrant's clock, to the minute, as a datetime-local field shows it
    (a minute that has begun, so an instant that has passed)."""
    return now.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def inventory_to_start(
    form: FormData, registrant_id: uuid.UUID, zone: str, now: datetime
) -> InventoryCreate:
    """What the start form asks for, as ``POST /v1/inventories`` takes it."""
    locations = [str(value) for value in form.getlist("location_id")]
    if not locations:
        raise _invalid("location_id", "choose at least one location to count")
    return _valid(InventoryCreate, {
        "registrant_id": str(registrant_id),
        "kind": _choice(form, "kind", InventoryKind),
        "as_of": _as_of(_text(form, "as_of"), zone, now).isoformat(),
        "taken_at": _choice(form, "taken_at", CountTime),
        "location_ids": [_uuid(value, "location_id") for value in locations],
    })  # fmt: skip


def registrant_of(form: FormData) -> uuid.UUID:
    return uuid.UUID(_uuid(_text(form, "registrant_id"), "registrant_id"))


def place_of(form: FormData) -> tuple[uuid.UUID, uuid.UUID]:
    """The location and lot a count form's row is about."""
    location = _uuid(_text(form, "location_id"), "location_id")
    return uuid.UUID(location), uuid.UUID(_uuid(_text(form, "lot_id"), "lot_id"))


def anchor(location_id: uuid.UUID, lot_id: uuid.UUID) -> str:
    """The id of a count sheet's row: where the page comes back to after a count."""
    return f"line-{location_id}-{lot_id}"


def lot_counted(form: FormData) -> EntryCount:
    """A line of the sheet counted, as ``POST /v1/inventories/{id}/counts`` takes it."""
    entered = _text(form, "quantity")
    if not entered:
        raise _invalid("quantity", "enter what was found (0 when the lot is not there)")
    try:
        quantity = parse_quantity(entered)
    except QuantityError as wrong:
        raise _invalid("quantity", f"{entered!r} is not a quantity: {wrong}") from None
    return _valid(EntryCount, {
        "location_id": _uuid(_text(form, "location_id"), "location_id"),
        "lot_id": _uuid(_text(form, "lot_id"), "lot_id"),
        "quantity": quantity,
        "exactness": _choice(form, "exactness", CountExactness),
    })  # fmt: skip


def void_reason(form: FormData) -> str:
    reason = _text(form, "reason")
    if not reason:
        raise _invalid("reason", "say why the inventory is voided")
    return _valid(InventoryVoid, {"reason": reason}).reason


def _as_of(text: str, zone: str, now: datetime) -> datetime:
    """The instant the form names on the registrant's clock; none given: now."""
    if not text:
        return now
    if _LOCAL.fullmatch(text) is None:
        raise _invalid("as_of", "a date and time such as 2026-03-02T17:00")
    try:
        return checked_instant(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)))
    except (ValueError, InstantError) as wrong:
        raise _invalid("as_of", f"not a date and time: {wrong}") from None


def _choice(form: FormData, name: str, allowed: Any) -> str:
    value = _text(form, name)
    choices = [member.value for member in allowed]
    if value not in choices:
        raise _invalid(name, f"one of {', '.join(choices)}")
    return value


def _uuid(text: str, name: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise _invalid(name, "not one of this page's choices; reload the page") from None


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


M = TypeVar("M", bound=BaseModel)


def _valid(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        errors = [FieldError(parameter=".".join(str(p) for p in e["loc"]), detail=e["msg"])
                  for e in invalid.errors()]  # fmt: skip
        raise InvalidInput("; ".join(f"{e.parameter}: {e.detail}" for e in errors),
                           errors=errors) from None  # fmt: skip


def _invalid(name: str, detail: str) -> InvalidInput:
    return InvalidInput(f"{name.replace('_', ' ')}: {detail}",
                        errors=[FieldError(parameter=name, detail=detail)])  # fmt: skip
