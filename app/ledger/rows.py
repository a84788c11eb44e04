"""The rows an append writes, typed: an event before and after it is linked onto its chain,
its postings, and the balance changes they make (plain dicts at run time, checked by mypy).

An event is made whole here from what was asked and what the checks found (:func:`new_event`,
:func:`reversal_event`); :mod:`app.ledger.writes` links it onto its registrant's chain (its
``sequence``, ``prev_hash`` and ``hash``) and writes it with its postings.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

from app.auth.caller import Caller
from app.core.quantity import rounded
from app.ledger import transfers
from app.ledger.balances import Change
from app.ledger.models import LedgerEvent
from app.ledger.references import EventReferences, person, snapshot
from app.ledger.schemas import EventCreate
from app.ledger.types import AdjustDirection, Direction, EventType
from app.registry.models import Staff


class NewEvent(TypedDict):
    """An event as an append makes it: every column of ``ledger_events`` but the chain's."""

    id: uuid.UUID
    registrant_id: uuid.UUID
    type: str
    location_id: uuid.UUID
    to_location_id: uuid.UUID | None
    product_id: uuid.UUID
    lot_id: uuid.UUID
    quantity: Decimal
    mg: Decimal
    occurred_at: datetime
    recorded_at: datetime
    performed_by: uuid.UUID | None
    witness_ids: list[str]
    patient_id: uuid.UUID | None
    session_id: uuid.UUID | None
    prescription_id: uuid.UUID | None
    batch_id: uuid.UUID | None
    counterparty: dict[str, Any] | None
    document_reference: str | None
    reason: str | None
    details: dict[str, Any]
    reverses_event_id: uuid.UUID | None
    transfer_event_id: uuid.UUID | None
    is_record: bool
    broken_rules: list[str]
    override_reason: str | None
    principal_subject: str
    principal_name: str
    snapshot: dict[str, Any]


class EventRow(NewEvent):
    """An event linked onto its registrant's chain: the row ``ledger_events`` holds."""

    sequence: int
    prev_hash: str
    hash: str


class PostingRow(TypedDict):
    """One balance change of an event, kept (``ledger_postings``): balances as of any instant
    are sums of these."""

    event_id: uuid.UUID
    location_id: uuid.UUID
    registrant_id: uuid.UUID
    lot_id: uuid.UUID
    product_id: uuid.UUID
    delta: Decimal
    occurred_at: datetime


class Author(TypedDict):
    """Who appends: the caller's token, when, and whether what they write is a record."""

    recorded_at: datetime
    is_record: bool
    principal_subject: str
    principal_name: str


def author_of(data: EventCreate, caller: Caller) -> Author:
    """Who writes ``data`` and when, as its event keeps it."""
    return {"recorded_at": caller.now, "is_record": caller.reports_record(data.occurred_at),
            "principal_subject": caller.principal.subject,
            "principal_name": caller.principal.name}  # fmt: skip


def new_event(
    data: EventCreate, refs: EventReferences, author: Author, broken_rules: list[str]
) -> NewEvent:
    """The event ``data`` asks for, with what the checks found (``refs``) and the rules it
    broke (stored with it: a record, or an instruction overridden)."""
    assert data.quantity is not None
    counterparty = counterparty_of(data, refs) or None
    return {
        "id": uuid.uuid4(),
        "registrant_id": refs.registrant.id,
        "type": data.type.value,
        "location_id": refs.location.id,
        "to_location_id": refs.to_location.id if refs.to_location else None,
        "product_id": refs.product.id,
        "lot_id": refs.lot.id,
        "quantity": data.quantity,
        "mg": rounded(data.quantity * refs.product.strength_value),
        "occurred_at": data.occurred_at,
        "performed_by": refs.performer.id if refs.performer else None,
        "witness_ids": [str(w) for w in data.witness_ids],
        "patient_id": data.patient_id,
        "session_id": data.session_id,
        "prescription_id": data.prescription_id,
        "batch_id": data.batch_id,
        "counterparty": counterparty,
        "document_reference": data.document_reference,
        "reason": data.reason,
        "details": _details(data),
        "reverses_event_id": None,
        "transfer_event_id": data.transfer_event_id,
        "broken_rules": broken_rules,
        "override_reason": data.override_reason,
        "snapshot": snapshot(refs, counterparty),
        **author,
    }


def reversal_event(
    target: LedgerEvent,
    data: EventCreate,
    author: Author,
    own_staff: Staff | None,
    cosigners: list[Staff],
) -> NewEvent:
    """What the reversal undoes, as its target recorded it; who reversed and co-signed it."""
    people = {"performer": person(own_staff), "witnesses": [person(w) for w in cosigners]}
    return {
        "id": uuid.uuid4(),
        "registrant_id": target.registrant_id,
        "type": EventType.reversal.value,
        "location_id": target.location_id,
        "to_location_id": target.to_location_id,
        "product_id": target.product_id,
        "lot_id": target.lot_id,
        "quantity": target.quantity,
        "mg": target.mg,
        "occurred_at": data.occurred_at,
        "performed_by": own_staff.id if own_staff else None,
        "witness_ids": [str(w) for w in data.witness_ids],
        "patient_id": target.patient_id,
        "session_id": target.session_id,
        "prescription_id": target.prescription_id,
        "batch_id": target.batch_id,
        "counterparty": None,
        "document_reference": data.document_reference,
        "reason": data.reason,
        "details": {},
        "reverses_event_id": target.id,
        "transfer_event_id": None,
        "broken_rules": [],
        "override_reason": None,
        "snapshot": target.snapshot | people,
        **author,
    }


def changes_of(
    event: NewEvent, direction: Direction, adjust: AdjustDirection | None
) -> list[Change]:
    """The balance changes ``event`` makes, by its type's direction."""

    def at(location_id: uuid.UUID | None, sign: int) -> Change:
        assert location_id is not None, "a move names where it goes"
        return Change(event["registrant_id"], location_id, event["lot_id"], event["product_id"],
                      sign * event["quantity"])  # fmt: skip

    if direction is Direction.adds:
        return [at(event["location_id"], 1)]
    if direction is Direction.removes:
        return [at(event["location_id"], -1)]
    if direction is Direction.moves:
        return [at(event["location_id"], -1), at(event["to_location_id"], 1)]
    if direction is Direction.signed:
        return [at(event["location_id"], 1 if adjust is AdjustDirection.increase else -1)]
    return []


def posting_of(event: EventRow, change: Change) -> PostingRow:
    return {
        "event_id": event["id"],
        "location_id": change.location_id,
        "registrant_id": event["registrant_id"],
        "lot_id": change.lot_id,
        "product_id": change.product_id,
        "delta": change.delta,
        "occurred_at": event["occurred_at"],
    }


def counterparty_of(data: EventCreate, refs: EventReferences) -> dict[str, Any]:
    """As given; for a transfer_in not given, the sender as its own event shows it."""
    if data.counterparty is not None:
        return data.counterparty.model_dump(mode="json")
    if refs.sent_transfer is not None:
        return transfers.sender_as_counterparty(refs.sent_transfer)
    return {}


def _details(data: EventCreate) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if data.adjust_direction is not None:
        found["adjust_direction"] = data.adjust_direction.value
    for name in ("loss", "destruction", "count"):
        value = getattr(data, name)
        if value is not None:
            found[name] = value.model_dump(mode="json")
    return found
