"""The statistics peer comparison reads (app/reconciliation/peers.py): each member of staff's
waste, withdrawals and discrepancies per session over the window, by product and like work, in
a few set-based queries for one registrant."""

import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, join, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from app.clinical.models import TreatmentPlan
from app.clinical.sessions.models import TreatmentSession
from app.core.db import Quantity
from app.core.quantity import rounded
from app.ledger.models import LedgerEvent
from app.ledger.queries import was_reversed
from app.ledger.types import EventType
from app.reconciliation.models import Discrepancy
from app.reconciliation.peers import PEER_OUTLIER, PeerMeasure, PeerStat, like_work
from app.registry.models import Staff

_PEER_MEASURES = {EventType.waste.value: PeerMeasure.waste,
                  EventType.move.value: PeerMeasure.withdrawn}  # fmt: skip
_WORK = (TreatmentSession.modality, TreatmentPlan.dose_mg_per_kg, TreatmentPlan.dose_mg)
"""What makes like work: the session's modality and its plan's dose (IV mg/kg, or mg)."""


def _like_work(modality: str, dose_mg_per_kg: Decimal | None, dose_mg: Decimal | None) -> str:
    dose = dose_mg_per_kg if dose_mg_per_kg is not None else dose_mg
    assert dose is not None, "a session's plan has a dose"
    return like_work(modality, dose)


_EVENTS_WITH_WORK = (
    join(LedgerEvent, TreatmentSession, TreatmentSession.id == LedgerEvent.session_id)
    .join(TreatmentPlan, TreatmentPlan.id == TreatmentSession.plan_id)
)  # fmt: skip
"""Ledger events of sessions, with each session and its plan."""


def peer_window(end: datetime, days: int) -> tuple[datetime, datetime]:
    """The window staff are compared over: the ``days`` before ``end`` (a run's period's end,
    or the end of today for the console's page)."""
    return end - timedelta(days=days), end


async def peer_stats(
    db: AsyncSession, rid: uuid.UUID, start: datetime, end: datetime
) -> list[PeerStat]:
    """Per member of staff, product and work, the mg wasted and withdrawn in sessions over
    the window and the discrepancies about those sessions that name them, each divided by
    the sessions of that product and work they took part in (none is zero: whoever took part
    is a peer)."""
    in_window = (
        LedgerEvent.registrant_id == rid, LedgerEvent.session_id.is_not(None),
        LedgerEvent.occurred_at >= start, LedgerEvent.occurred_at < end,
    )  # fmt: skip
    took_part = {
        (str(staff_id), product_id, _like_work(modality, per_kg, mg)): (role, sessions)
        for staff_id, role, product_id, modality, per_kg, mg, sessions in await db.execute(
            select(LedgerEvent.performed_by, Staff.role, LedgerEvent.product_id, *_WORK,
                   func.count(func.distinct(LedgerEvent.session_id)))
            .select_from(_EVENTS_WITH_WORK)
            .join(Staff, Staff.id == LedgerEvent.performed_by).where(*in_window)
            .group_by(LedgerEvent.performed_by, Staff.role, LedgerEvent.product_id, *_WORK)
        )
    }  # fmt: skip
    total = type_coerce(func.sum(LedgerEvent.mg), Quantity())
    amounts = {
        (str(staff_id), product_id, _like_work(modality, per_kg, mg), _PEER_MEASURES[kind]): amount
        for staff_id, product_id, kind, modality, per_kg, mg, amount in await db.execute(
            select(LedgerEvent.performed_by, LedgerEvent.product_id, LedgerEvent.type, *_WORK,
                   total)
            .select_from(_EVENTS_WITH_WORK)
            .where(*in_window, LedgerEvent.type.in_(list(_PEER_MEASURES)),
                   ~was_reversed(LedgerEvent.id))
            .group_by(LedgerEvent.performed_by, LedgerEvent.product_id, LedgerEvent.type,
                      *_WORK)
        )
    }  # fmt: skip
    named = await _session_discrepancies_naming(db, rid, start, end)
    return [
        PeerStat(staff_id, role, product_id, work, measure, rounded(amount / sessions),
                       sessions)
        for (staff_id, product_id, work), (role, sessions) in took_part.items()
        for measure, amount in [
            *((m, amounts.get((staff_id, product_id, work, m), Decimal(0)))
              for m in _PEER_MEASURES.values()),
            (PeerMeasure.discrepancies, Decimal(named[(staff_id, product_id, work)])),
        ]
    ]  # fmt: skip


async def _session_discrepancies_naming(
    db: AsyncSession, rid: uuid.UUID, start: datetime, end: datetime
) -> Counter[tuple[str, uuid.UUID, str]]:
    """Per member of staff, product and work, the discrepancies first found in the window
    that are about a session of that product and work and name them."""
    found = list(await db.execute(
        select(Discrepancy.details, Discrepancy.event_ids, Discrepancy.staff_ids)
        .where(Discrepancy.registrant_id == rid, Discrepancy.rule != PEER_OUTLIER,
               Discrepancy.first_found_at >= start, Discrepancy.first_found_at < end)
    ))  # fmt: skip
    about = await _sessions_about(db, [(details, events) for details, events, _ in found])
    work_of = await _work_of_sessions(db, set().union(*about))
    named: Counter[tuple[str, uuid.UUID, str]] = Counter()
    for (_, _, staff_ids), sessions in zip(found, about, strict=True):
        of = set().union(*(work_of[s] for s in sessions))
        named.update((staff_id, *kind) for staff_id in set(staff_ids) for kind in of)
    return named


async def _sessions_about(
    db: AsyncSession, discrepancies: list[tuple[dict[str, Any], list[str]]]
) -> list[set[uuid.UUID]]:
    """The sessions each discrepancy is about: the one its details name (a session's rules),
    and those its events were made in (a ledger rule broken at a session's step)."""
    event_ids = {uuid.UUID(e) for _, events in discrepancies for e in events}
    session_of: dict[uuid.UUID, uuid.UUID] = {}
    if event_ids:
        rows = await db.execute(
            select(LedgerEvent.id, LedgerEvent.session_id)
            .where(LedgerEvent.id.in_(event_ids), LedgerEvent.session_id.is_not(None))
        )  # fmt: skip
        session_of = {event: session for event, session in rows if session is not None}
    return [
        ({uuid.UUID(details["session_id"])} if "session_id" in details else set())
        | {session_of[e] for e in map(uuid.UUID, events) if e in session_of}
        for details, events in discrepancies
    ]


async def _work_of_sessions(
    db: AsyncSession, session_ids: set[uuid.UUID]
) -> defaultdict[uuid.UUID, set[tuple[uuid.UUID, str]]]:
    """The products each session moved, each with the session's work."""
    work_of: defaultdict[uuid.UUID, set[tuple[uuid.UUID, str]]] = defaultdict(set)
    if session_ids:
        rows = await db.execute(
            select(LedgerEvent.session_id, LedgerEvent.product_id, *_WORK).distinct()
            .select_from(_EVENTS_WITH_WORK).where(LedgerEvent.session_id.in_(session_ids))
        )  # fmt: skip
        for session_id, product_id, modality, per_kg, mg in rows:
            if session_id is not None:
                work_of[session_id].add((product_id, _like_work(modality, per_kg, mg)))
    return work_of
