"""What a session shows: its ledger events, where the withdrawn stock went (in mg), its
administrations and vitals, and for esketamine the Patient Monitoring Form's data."""

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Lot, Product
from app.clinical.schemas import ESKETAMINE_DOSES_MG, Modality
from app.clinical.sessions import rules, schemas
from app.clinical.sessions.models import SessionAdministration, SessionVitals, TreatmentSession
from app.core.quantity import rounded
from app.ledger.models import Balance, LedgerEvent
from app.ledger.queries import confirmations_of, was_reversed, witness_status
from app.ledger.types import EventType
from app.registry.models import Registrant
from app.registry.service import local_date

MONITORING_FORM_DUE_DAYS = 7
"""The REMS Patient Monitoring Form is submitted within 7 days of the session
(docs/domain.md#patient-monitoring-form)."""

_SIDE_OF: dict[EventType, str] = {
    EventType.move: "withdrawn_mg",
    EventType.administer: "administered_mg",
    EventType.waste: "wasted_mg",
    EventType.return_to_stock: "returned_mg",
}
"""Which column of the accounting each of a session's events adds to (its moves are all
withdrawals into the holding)."""


async def holding_on_hand_mg(db: AsyncSession, holding_id: uuid.UUID) -> Decimal:
    """What is in the holding now, in mg, from the ledger's balances."""
    rows = await db.execute(
        select(Balance.quantity, Product.strength_value)
        .join(Product, Product.id == Balance.product_id)
        .where(Balance.location_id == holding_id)
    )
    return rounded(sum((quantity * strength for quantity, strength in rows), Decimal(0)))


async def administrations_of(
    db: AsyncSession, session_id: uuid.UUID, *, reversed_too: bool = True
) -> list[SessionAdministration]:
    """The session's administrations in order; without those the ledger has reversed (given
    in error), unless ``reversed_too``."""
    return (await administrations_of_sessions(db, [session_id], reversed_too=reversed_too))[
        session_id
    ]


async def administrations_of_sessions(
    db: AsyncSession, session_ids: Sequence[uuid.UUID], *, reversed_too: bool = True
) -> dict[uuid.UUID, list[SessionAdministration]]:
    """:func:`administrations_of` for many sessions in one query."""
    statement = (
        select(SessionAdministration)
        .where(SessionAdministration.session_id.in_(session_ids))
        .order_by(SessionAdministration.started_at)
    )
    if not reversed_too:
        statement = statement.where(~was_reversed(SessionAdministration.event_id))
    found: dict[uuid.UUID, list[SessionAdministration]] = {i: [] for i in session_ids}
    for administration in await db.scalars(statement):
        found[administration.session_id].append(administration)
    return found


async def vitals_of(db: AsyncSession, session_id: uuid.UUID) -> list[SessionVitals]:
    return (await vitals_of_sessions(db, [session_id]))[session_id]


async def vitals_of_sessions(
    db: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SessionVitals]]:
    statement = (
        select(SessionVitals)
        .where(SessionVitals.session_id.in_(session_ids))
        .order_by(SessionVitals.measured_at)
    )
    found: dict[uuid.UUID, list[SessionVitals]] = {i: [] for i in session_ids}
    for vitals in await db.scalars(statement):
        found[vitals.session_id].append(vitals)
    return found


async def lot_numbers(db: AsyncSession, lot_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await db.execute(select(Lot.id, Lot.lot_number).where(Lot.id.in_(lot_ids)))
    return {lot_id: number for lot_id, number in rows}


def reading(vitals: SessionVitals) -> rules.Reading:
    pressure = rules.BloodPressure(vitals.systolic_mmhg, vitals.diastolic_mmhg)
    return rules.Reading(vitals.measured_at, vitals.moment, pressure)


async def session_out(db: AsyncSession, ts: TreatmentSession) -> schemas.SessionOut:
    events = list(
        await db.scalars(
            select(LedgerEvent)
            .where(LedgerEvent.session_id == ts.id)
            .order_by(LedgerEvent.sequence)
        )
    )
    confirmed = await confirmations_of(db, [e.id for e in events])
    administrations = await administrations_of(db, ts.id)
    vitals = await vitals_of(db, ts.id)
    on_hand = await holding_on_hand_mg(db, ts.holding_location_id)
    form = None
    if ts.modality == Modality.esketamine_nasal:
        given = await administrations_of(db, ts.id, reversed_too=False)
        registrant = await db.get(Registrant, ts.registrant_id)
        assert registrant is not None
        lots = await lot_numbers(db, {a.lot_id for a in given})
        form = monitoring_form(ts, registrant, given, vitals, lots)
    record = schemas.SessionRecordOut.model_validate(ts).model_dump()
    return schemas.SessionOut(
        **record,
        accounting=accounting(events, on_hand),
        events=[event_out(e, confirmed[e.id]) for e in events],
        administrations=[schemas.AdministrationOut.model_validate(a) for a in administrations],
        vitals=[schemas.VitalsOut.model_validate(v) for v in vitals],
        monitoring_form=form,
    )


def event_out(event: LedgerEvent, confirmed: list[uuid.UUID]) -> schemas.SessionEventOut:
    return schemas.SessionEventOut(
        id=event.id, type=event.type, lot_id=event.lot_id, quantity=event.quantity, mg=event.mg,
        occurred_at=event.occurred_at, performed_by=event.performed_by,
        witness_ids=[uuid.UUID(w) for w in event.witness_ids],
        witness_status=witness_status(event.witness_ids, confirmed),
        reverses_event_id=event.reverses_event_id, broken_rules=event.broken_rules,
    )  # fmt: skip


def accounting(events: Sequence[LedgerEvent], on_hand_mg: Decimal) -> schemas.AccountingOut:
    """Withdrawn against administered, wasted, returned and still on hand, in mg; an event
    reversed (and its reversal) counts for nothing."""
    reversed_ids = {e.reverses_event_id for e in events if e.reverses_event_id is not None}
    totals = dict.fromkeys(_SIDE_OF.values(), Decimal(0))
    for event in events:
        side = _SIDE_OF.get(EventType(event.type))
        if side is not None and event.id not in reversed_ids:
            totals[side] += event.mg
    accounted = totals["administered_mg"] + totals["wasted_mg"] + totals["returned_mg"] + on_hand_mg
    return schemas.AccountingOut(
        **totals, on_hand_mg=on_hand_mg, balanced=totals["withdrawn_mg"] == accounted
    )


def monitoring_form(
    ts: TreatmentSession,
    registrant: Registrant,
    administrations: Sequence[SessionAdministration],
    vitals: Sequence[SessionVitals],
    lots: dict[uuid.UUID, str],
) -> schemas.MonitoringFormOut:
    """The Spravato REMS Patient Monitoring Form of an esketamine session, from what was
    given (not reversed), its vitals and the numbers of its lots."""
    readings = rules.monitoring_readings([reading(v) for v in vitals], ts.first_dose_at,
                                         ts.ended_at)  # fmt: skip
    dose_mg = sum((a.mg for a in administrations), Decimal(0))
    observations = ts.observations or {}
    missing = readings.missing + [
        name for name in ("clinical_stability", "observations") if getattr(ts, name) is None
    ]
    return schemas.MonitoringFormOut(
        dose_mg=dose_mg,
        dose=str(dose_mg.normalize()) if dose_mg in ESKETAMINE_DOSES_MG else "other",
        lot_numbers=sorted({lots[a.lot_id] for a in administrations}),
        first_device_at=ts.first_dose_at,
        monitoring_ended_at=ts.ended_at,
        total_minutes=(
            int((ts.ended_at - ts.first_dose_at) / timedelta(minutes=1))
            if ts.ended_at and ts.first_dose_at else None
        ),
        bp_pre_dose=_pressure(readings.pre_dose),
        bp_post_dose=_pressure(readings.post_dose),
        bp_pre_discharge=_pressure(readings.pre_discharge),
        sedation=observations.get("sedation"),
        dissociation=observations.get("dissociation"),
        respiratory_depression=observations.get("respiratory_depression"),
        serious_adverse_events=observations.get("serious_adverse_events"),
        missing=missing,
        due_on=_form_due_on(ts, registrant),
        submitted_on=ts.rems_submitted_on,
        submission_reference=ts.rems_submission_reference,
    )  # fmt: skip


def _pressure(chosen: rules.Reading | None) -> schemas.BloodPressureOut | None:
    if chosen is None:
        return None
    return schemas.BloodPressureOut(
        systolic_mmhg=chosen.pressure.systolic,
        diastolic_mmhg=chosen.pressure.diastolic,
        measured_at=chosen.measured_at,
    )


def _form_due_on(ts: TreatmentSession, registrant: Registrant) -> date | None:
    if ts.status != schemas.SessionStatus.discharged or ts.ended_at is None:
        return None
    return local_date(registrant, ts.ended_at) + timedelta(days=MONITORING_FORM_DUE_DAYS)
