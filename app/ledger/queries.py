"""Reading the ledger: events with their witness status, filtered and paged."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.core.db import where_given
from app.ledger.models import LedgerEvent, WitnessConfirmation
from app.ledger.schemas import EventOut, EventReceipt, WitnessStatus
from app.ledger.types import EventType

_COLUMNS = tuple(column.key for column in LedgerEvent.__table__.columns)
_reversal = aliased(LedgerEvent)


def was_reversed(
    event_id: ColumnElement[uuid.UUID] | QueryableAttribute[uuid.UUID],
) -> ColumnElement[bool]:
    """Whether a reversal names the event ``event_id`` (a correlated EXISTS): an event given,
    dispensed or moved in error, and undone, counts for nothing."""
    return exists().where(_reversal.reverses_event_id == event_id)


Invoice = tuple[uuid.UUID, uuid.UUID, str, str]
"""What names a supplier's invoice for a lot: registrant, lot, invoice number, supplier's DEA
number."""


async def invoice_received(session: AsyncSession, invoice: Invoice) -> bool:
    """Whether a receipt of ``invoice`` is on the ledger and not reversed."""
    registrant_id, lot_id, number, supplier_dea = invoice
    found = await session.scalar(
        select(LedgerEvent.id).where(
            LedgerEvent.registrant_id == registrant_id, LedgerEvent.lot_id == lot_id,
            LedgerEvent.type == EventType.receipt.value,
            LedgerEvent.document_reference == number,
            LedgerEvent.counterparty["dea_number"].as_string() == supplier_dea,
            ~was_reversed(LedgerEvent.id),
        ).limit(1)
    )  # fmt: skip
    return found is not None


async def confirmations_of(
    session: AsyncSession, event_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Confirmed witnesses per event, for many events in one query."""
    found: dict[uuid.UUID, list[uuid.UUID]] = {event_id: [] for event_id in event_ids}
    if event_ids:
        rows = await session.execute(
            select(WitnessConfirmation.event_id, WitnessConfirmation.staff_id).where(
                WitnessConfirmation.event_id.in_(event_ids)
            )
        )
        for event_id, staff_id in rows:
            found[event_id].append(staff_id)
    return found


PATIENT_WITHHELD = "snapshot.patient"
"""What of an event's hashed body a caller who may not read patients is not shown."""


def event_out(
    row: Mapping[str, Any] | LedgerEvent, confirmed: list[uuid.UUID], *, patients_named: bool
) -> EventOut:
    """The event as a caller reads it; one who may not read patients (``patients_named``
    false) is not shown the patient's name, address and birth date the snapshot holds, and
    the answer says so in ``withheld`` (docs/tenancy.md#patient-data)."""
    values = dict(row) if isinstance(row, Mapping) else {c: getattr(row, c) for c in _COLUMNS}
    withheld = []
    if not patients_named and values["snapshot"].get("patient") is not None:
        values["snapshot"] = values["snapshot"] | {"patient": None}
        withheld.append(PATIENT_WITHHELD)
    return EventOut.model_validate(
        values
        | {
            "witness_status": witness_status(values["witness_ids"], confirmed),
            "confirmed_witness_ids": sorted(confirmed, key=str),
            "withheld": withheld,
        }
    )


def receipt(row: Mapping[str, Any]) -> EventReceipt:
    """The receipt of an event just appended (no witness has confirmed it yet), made from the
    row without validation: the append made every value of it, of the type the receipt
    declares (a batch makes a thousand)."""
    return EventReceipt.model_construct(
        **{name: row[name] for name in _RECEIPT_FIELDS},
        type=EventType(row["type"]),  # kept as its text in the row
        witness_status=witness_status(row["witness_ids"], []),
    )


_RECEIPT_FIELDS = tuple(name for name in EventReceipt.model_fields
                        if name not in ("type", "witness_status"))  # fmt: skip


def witness_status(witness_ids: Sequence[object], confirmed: Sequence[uuid.UUID]) -> WitnessStatus:
    named = {uuid.UUID(str(w)) for w in witness_ids}
    if not named:
        return WitnessStatus.not_required
    if named <= set(confirmed):
        return WitnessStatus.witnessed
    return WitnessStatus.unwitnessed


async def get_event(
    session: AsyncSession, event_id: uuid.UUID, *, principal: Principal
) -> LedgerEvent:
    return await get_readable(session, LedgerEvent, event_id, principal, what="ledger event")


def shows_patient(event: EventOut) -> bool:
    """Whether the event as answered names a patient (its snapshot's patient, not withheld)."""
    return event.snapshot.get("patient") is not None


async def event_read(session: AsyncSession, event_id: uuid.UUID, principal: Principal) -> EventOut:
    """The event as ``principal`` reads it (404 across registrants), with its confirmed
    witnesses, and the patient withheld from one who may not read patients."""
    event = await get_event(session, event_id, principal=principal)
    confirmed = await confirmations_of(session, [event.id])
    named = principal.can(Permission.read_patients)
    return event_out(event, confirmed[event.id], patients_named=named)


async def reversed_by(session: AsyncSession, event: EventOut) -> uuid.UUID | None:
    """The reversal that undid ``event``, if one did (at most one may: a second is refused)."""
    found: uuid.UUID | None = await session.scalar(
        select(_reversal.id).where(_reversal.registrant_id == event.registrant_id,
                                   _reversal.reverses_event_id == event.id).limit(1)
    )  # fmt: skip
    return found


def events_query(
    principal: Principal,
    *,
    registrant_id: uuid.UUID | None,
    type: EventType | None,
    location_id: uuid.UUID | None,
    lot_id: uuid.UUID | None,
    product_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    occurred_from: datetime | None,
    occurred_to: datetime | None,
) -> Select[LedgerEvent]:
    statement = within_registrants(
        select(LedgerEvent), LedgerEvent.registrant_id, principal, registrant_id
    )
    statement = where_given(
        statement,
        (LedgerEvent.type, type),
        (LedgerEvent.location_id, location_id),
        (LedgerEvent.lot_id, lot_id),
        (LedgerEvent.product_id, product_id),
        (LedgerEvent.patient_id, patient_id),
    )
    if occurred_from is not None:
        statement = statement.where(LedgerEvent.occurred_at >= occurred_from)
    if occurred_to is not None:
        statement = statement.where(LedgerEvent.occurred_at < occurred_to)
    return statement
