"""The set-based reads of a reconciliation run about treatment sessions: the sessions that
ended, their waste and their monitoring forms, one query per kind of fact for one registrant
and period (the stock's are in app/reconciliation/queries.py)."""

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from app.clinical.schemas import Modality
from app.clinical.sessions.models import TreatmentSession
from app.clinical.sessions.monitoring import MONITORING_FORM_DUE_DAYS
from app.clinical.sessions.types import SessionStatus
from app.core.db import Quantity
from app.ledger.models import LedgerEvent
from app.ledger.queries import confirmations_of
from app.ledger.types import EventType
from app.reconciliation.facts import MonitoringForm, SessionEnd, Waste
from app.reconciliation.queries import id_text, not_reversed
from app.registry.models import Registrant


def _ended_in(rid: uuid.UUID, start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    return (TreatmentSession.registrant_id == rid, TreatmentSession.ended_at >= start,
            TreatmentSession.ended_at < end)  # fmt: skip


async def session_ends(
    db: AsyncSession, rid: uuid.UUID, start: datetime, end: datetime
) -> list[SessionEnd]:
    """The sessions that ended in the period, each with what it gave (esketamine) and its
    events."""
    ended = list(await db.scalars(select(TreatmentSession).where(*_ended_in(rid, start, end))))
    given = await _esketamine_given(db, [ts.id for ts in ended if _discharged_esketamine(ts)])
    events = await _events_of_sessions_ended(db, rid, start, end)
    return [
        SessionEnd(ts.id, ts.unresolved_mg or Decimal(0), tuple(ts.staff_ids), ts.ended_at,
                   ts.status,
                   given.get(ts.id, Decimal(0)) if _discharged_esketamine(ts) else None,
                   patient_id=ts.patient_id, room_id=ts.location_id,
                   event_ids=tuple(events.get(ts.id, ())))
        for ts in ended
        if ts.ended_at is not None
    ]  # fmt: skip


async def _events_of_sessions_ended(
    db: AsyncSession, rid: uuid.UUID, start: datetime, end: datetime
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The ledger events of each session that ended in the period, in their order (reversed
    ones left out): what its findings are about."""
    rows = await db.execute(
        select(LedgerEvent.session_id, LedgerEvent.id)
        .join(TreatmentSession, TreatmentSession.id == LedgerEvent.session_id)
        .where(*_ended_in(rid, start, end), not_reversed())
        .order_by(LedgerEvent.occurred_at, LedgerEvent.id)
    )  # fmt: skip
    events: defaultdict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for session_id, event_id in rows:
        if session_id is not None:
            events[session_id].append(event_id)
    return events


def _discharged_esketamine(ts: TreatmentSession) -> bool:
    return ts.modality == Modality.esketamine_nasal and ts.status == SessionStatus.discharged.value


async def _esketamine_given(
    db: AsyncSession, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Decimal]:
    """mg administered per session, from the ledger (reversed administrations excluded)."""
    if not session_ids:
        return {}
    total = type_coerce(func.sum(LedgerEvent.mg), Quantity())
    rows = await db.execute(
        select(LedgerEvent.session_id, total)
        .where(LedgerEvent.session_id.in_(session_ids),
               LedgerEvent.type == EventType.administer.value, not_reversed())
        .group_by(LedgerEvent.session_id)
    )  # fmt: skip
    return {session_id: mg for session_id, mg in rows if session_id is not None}


async def waste(db: AsyncSession, rid: uuid.UUID, start: datetime, end: datetime) -> list[Waste]:
    """The period's waste of sessions, with who confirmed it and the session's first
    withdrawal."""
    rows = await db.execute(
        select(LedgerEvent, TreatmentSession.location_id)
        .join(TreatmentSession, TreatmentSession.id == LedgerEvent.session_id)
        .where(LedgerEvent.registrant_id == rid, LedgerEvent.type == EventType.waste.value,
               LedgerEvent.occurred_at >= start, LedgerEvent.occurred_at < end, not_reversed())
    )  # fmt: skip
    found = [(event, room) for event, room in rows]
    if not found:
        return []
    events = [event for event, _ in found]
    room_of = {event.id: room for event, room in found}
    confirmed = await confirmations_of(db, [e.id for e in events])
    withdrawals = await db.execute(
        select(LedgerEvent.session_id, func.min(LedgerEvent.occurred_at))
        .where(LedgerEvent.session_id.in_({e.session_id for e in events}),
               LedgerEvent.type == EventType.move.value)
        .group_by(LedgerEvent.session_id)
    )  # fmt: skip
    first_withdrawal = {session_id: at for session_id, at in withdrawals}
    return [
        Waste(
            event_id=e.id,
            session_id=e.session_id,
            room_id=room_of[e.id],
            quantity=e.quantity,
            occurred_at=e.occurred_at,
            performed_by=id_text(e.performed_by),
            witness_ids=tuple(e.witness_ids),
            confirmed_by=tuple(str(s) for s in confirmed[e.id]),
            recorded_at=e.recorded_at,
            first_withdrawal_at=first_withdrawal.get(e.session_id, e.occurred_at),
            patient_id=e.patient_id,
            lot_id=e.lot_id,
            product_id=e.product_id,
        )
        for e in events
        if e.session_id is not None
    ]


async def monitoring_forms(
    db: AsyncSession, registrant: Registrant, start: datetime, end: datetime
) -> list[MonitoringForm]:
    """The Patient Monitoring Forms falling due in the period (or after it): those of the
    esketamine sessions discharged in it or in the week before it."""
    zone = ZoneInfo(registrant.timezone)
    rows = await db.scalars(
        select(TreatmentSession).where(
            TreatmentSession.registrant_id == registrant.id,
            TreatmentSession.modality == Modality.esketamine_nasal.value,
            TreatmentSession.status == SessionStatus.discharged.value,
            TreatmentSession.ended_at >= start - timedelta(days=MONITORING_FORM_DUE_DAYS + 1),
            TreatmentSession.ended_at < end,
        )
    )
    due = timedelta(days=MONITORING_FORM_DUE_DAYS)
    return [
        MonitoringForm(
            ts.id,
            ts.ended_at,
            ts.ended_at.astimezone(zone).date() + due,
            ts.rems_submitted_on,
            tuple(ts.staff_ids),
            patient_id=ts.patient_id,
            room_id=ts.location_id,
        )
        for ts in rows
        if ts.ended_at is not None
    ]
