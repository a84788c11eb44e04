"""A session's steps: withdrawals, administrations, waste, returns and their witnesses, and
vital signs. Each takes the session in hand (locked) and moves stock through the ledger in the
same transaction."""

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.catalog.models import Lot, Product
from app.catalog.substances import base_mg
from app.clinical.schemas import Modality
from app.clinical.sessions import rules, schemas
from app.clinical.sessions.authorization_schemas import AuthorizedStep
from app.clinical.sessions.authorizations import judge
from app.clinical.sessions.models import SessionAdministration, SessionVitals, TreatmentSession
from app.clinical.sessions.service import (
    OPEN,
    PRODUCT_OF,
    UNDER_WAY,
    Status,
    Step,
    announce,
    begin_step,
    changed,
    not_before_start,
    not_in_future,
    rems_now,
    session_to_change,
)
from app.clinical.sessions.views import (
    administrations_of,
)
from app.core.errors import InvalidInput
from app.core.quantity import rounded
from app.core.tenancy import invalid, referenced
from app.ledger import queries as ledger_queries
from app.ledger import service as ledger
from app.ledger import witnesses
from app.ledger.rows import EventRow
from app.ledger.types import EventType
from app.registry.enums import LocationKind
from app.registry.models import Location, Patient
from app.registry.people import owned_staff


async def _lot_for(db: AsyncSession, step: Step, lot_id: uuid.UUID) -> tuple[Lot, Product]:
    """A lot of what the session's modality gives."""
    rid = step.ts.registrant_id
    lot = await referenced(db, Lot, lot_id, registrant_id=rid, pointer="#/lot_id", what="lot")
    product = await referenced(
        db, Product, lot.product_id, registrant_id=rid, pointer="#/lot_id", what="product"
    )
    substance, form = PRODUCT_OF[step.modality]
    if product.substance != substance or product.dosage_form != form:
        raise invalid("#/lot_id", f"lot of {substance} {form.replace('_', ' ')}")
    return lot, product


async def _storage(db: AsyncSession, step: Step, location_id: uuid.UUID, pointer: str) -> None:
    location = await referenced(db, Location, location_id, registrant_id=step.ts.registrant_id,
                                pointer=pointer, what="location")  # fmt: skip
    if location.kind == LocationKind.in_use:
        raise invalid(pointer, "storage location (not a session's holding)")


# Steps that move stock


async def withdraw(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.WithdrawalCreate, caller: Caller
) -> tuple[TreatmentSession, EventRow]:
    step = await begin_step(db, session_id, caller, allowed=OPEN, performer=data.performed_by)
    await _storage(db, step, data.from_location_id, "#/from_location_id")
    await _lot_for(db, step, data.lot_id)
    event = step.event(EventType.move, location_id=data.from_location_id,
                       to_location_id=step.ts.holding_location_id, lot_id=data.lot_id,
                       quantity=data.quantity, occurred_at=data.occurred_at)  # fmt: skip
    row = await ledger.append(db, event, step.caller)
    if step.ts.status == Status.scheduled:
        step.ts.status = Status.in_progress.value
        step.ts.started_at = data.occurred_at
    await changed(db, step)
    return step.ts, row


async def administer(
    db: AsyncSession,
    session_id: uuid.UUID,
    data: schemas.AdministrationCreate,
    caller: Caller,
) -> tuple[TreatmentSession, EventRow]:
    # Observing too: a dose beyond the plan is the dose rule's to judge, not the state's.
    step = await begin_step(db, session_id, caller, allowed=UNDER_WAY, performer=data.performed_by)
    ts = step.ts
    not_before_start(ts, data.started_at, "#/started_at")
    _lot, product = await _lot_for(db, step, data.lot_id)
    _check_administered_quantity(step.modality, data)
    mg = rounded(base_mg(data.quantity * product.strength_value, product.substance,
                         product.strength_basis))  # fmt: skip
    given = await administrations_of(db, ts.id, reversed_too=False)  # the dose so far
    patient = await db.get(Patient, ts.patient_id)
    assert patient is not None
    facts = rules.AdministrationFacts(
        modality=step.modality,
        rems=rems_now(step.registrant, patient),
        expected_dose_mg=ts.expected_dose_mg,
        tolerance_percent=caller.settings.iv_dose_tolerance_percent,
        given_before_mg=sum((a.mg for a in given), Decimal(0)),
        mg=mg,
        started_at=data.started_at,
        previous_started_at=given[-1].started_at if given else None,
        predose_pressure=await _predose_pressure(db, ts.id, data.started_at),
        max_predose=rules.BloodPressure(caller.settings.esketamine_max_predose_systolic,
                                        caller.settings.esketamine_max_predose_diastolic),
    )  # fmt: skip
    entry = await judge(db, rules.administration_breaks(facts), data, caller,
                        step=AuthorizedStep.administration, when=data.started_at,
                        registrant_id=ts.registrant_id, session_id=ts.id)  # fmt: skip
    # The ledger's own rules are excused by the caller's own reason only: a prescriber's
    # authorization covers the session rules it names, never an expired lot.
    event = step.event(EventType.administer, location_id=ts.holding_location_id,
                       lot_id=data.lot_id, quantity=data.quantity, occurred_at=data.started_at,
                       override_reason=data.override_reason)  # fmt: skip
    row = await ledger.append(db, event, step.caller)
    db.add(SessionAdministration(
        id=uuid.uuid4(), registrant_id=ts.registrant_id, session_id=ts.id, event_id=row["id"],
        lot_id=data.lot_id, quantity=data.quantity, mg=mg, started_at=data.started_at,
        ended_at=data.ended_at, administered_by=step.performer,
        broken_rules=entry[0]["rules"] if entry else [],
        override_reason=entry[0]["override_reason"] if entry else None, created_at=caller.now,
    ))  # fmt: skip
    ts.broken_rules = [*ts.broken_rules, *entry]
    await announce(db, ts, entry, caller, (row["id"],))
    ts.first_dose_at = ts.first_dose_at or data.started_at
    if _dose_complete(step.modality, ts.expected_dose_mg, facts.given_before_mg + mg):
        ts.status = Status.observing.value
        ts.dosing_ended_at = max(ts.dosing_ended_at or data.started_at,
                                 data.ended_at or data.started_at)  # fmt: skip
    await changed(db, step)
    return ts, row


def _check_administered_quantity(modality: Modality, data: schemas.AdministrationCreate) -> None:
    if modality is Modality.esketamine_nasal:
        if data.quantity != 1:
            raise InvalidInput.at("#/quantity", "each esketamine device is its own administration")
        if data.ended_at is not None:
            raise InvalidInput.at("#/ended_at", "a nasal device has no infusion end")
    elif data.ended_at is None:
        raise InvalidInput.at("#/ended_at", "an infusion is recorded with its end")


def _dose_complete(modality: Modality, expected_mg: Decimal, given_mg: Decimal) -> bool:
    """An infusion is the whole dose, once recorded; esketamine once its devices add up."""
    return modality is Modality.iv_infusion or given_mg >= expected_mg


async def _predose_pressure(
    db: AsyncSession, session_id: uuid.UUID, before: datetime
) -> rules.BloodPressure | None:
    reading = await db.scalar(
        select(SessionVitals)
        .where(SessionVitals.session_id == session_id,
               SessionVitals.moment == schemas.VitalsMoment.pre_dose,
               SessionVitals.measured_at <= before)
        .order_by(SessionVitals.measured_at.desc())
        .limit(1)
    )  # fmt: skip
    if reading is None:
        return None
    return rules.BloodPressure(reading.systolic_mmhg, reading.diastolic_mmhg)


async def waste(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.WasteCreate, caller: Caller
) -> tuple[TreatmentSession, EventRow]:
    step = await begin_step(db, session_id, caller, allowed=UNDER_WAY, performer=data.performed_by)
    not_before_start(step.ts, data.occurred_at, "#/occurred_at")
    await _lot_for(db, step, data.lot_id)
    await owned_staff(db, [data.witness_id], registrant_id=step.ts.registrant_id,
                      pointer="#/witness_id")  # fmt: skip
    if data.witness_id == step.performer:
        raise InvalidInput.at("#/witness_id", "the witness is someone other than the waster")
    event = step.event(EventType.waste, location_id=step.ts.holding_location_id,
                       lot_id=data.lot_id, quantity=data.quantity, occurred_at=data.occurred_at,
                       witness_ids=[data.witness_id], reason=data.reason)  # fmt: skip
    row = await ledger.append(db, event, step.caller)
    await changed(db, step)
    return step.ts, row


async def return_to_stock(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.ReturnCreate, caller: Caller
) -> tuple[TreatmentSession, EventRow]:
    step = await begin_step(db, session_id, caller, allowed=UNDER_WAY, performer=data.performed_by)
    not_before_start(step.ts, data.occurred_at, "#/occurred_at")
    await _storage(db, step, data.to_location_id, "#/to_location_id")
    await _lot_for(db, step, data.lot_id)
    event = step.event(EventType.return_to_stock, location_id=step.ts.holding_location_id,
                       to_location_id=data.to_location_id, lot_id=data.lot_id,
                       quantity=data.quantity, occurred_at=data.occurred_at)  # fmt: skip
    row = await ledger.append(db, event, step.caller)
    await changed(db, step)
    return step.ts, row


async def confirm_witness(
    db: AsyncSession, session_id: uuid.UUID, event_id: uuid.UUID, caller: Caller
) -> TreatmentSession:
    """A witness of one of the session's events confirms it with their own token; allowed
    after the session ended too (the witness may be called away)."""
    ts = await session_to_change(db, session_id, principal=caller.principal)
    event = await ledger_queries.get_event(db, event_id, principal=caller.principal)
    if event.session_id != ts.id:
        raise invalid("#/event_id", "ledger event of this session")
    await witnesses.confirm_witness(db, event, caller)
    return ts


# Vitals


async def record_vitals(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.VitalsCreate, caller: Caller
) -> SessionVitals:
    step = await begin_step(db, session_id, caller, allowed=OPEN, performer=data.recorded_by,
                        pointer="#/recorded_by")  # fmt: skip
    not_in_future(data.measured_at, caller, "#/measured_at")
    settings = caller.settings
    limits = rules.VitalsThresholds(
        systolic_above=settings.vitals_alert_systolic_above,
        diastolic_above=settings.vitals_alert_diastolic_above,
        heart_rate_above=settings.vitals_alert_heart_rate_above,
        heart_rate_below=settings.vitals_alert_heart_rate_below,
        spo2_below=settings.vitals_alert_spo2_below,
    )
    pressure = rules.BloodPressure(data.systolic_mmhg, data.diastolic_mmhg)
    reading = SessionVitals(
        id=uuid.uuid4(), registrant_id=step.ts.registrant_id, session_id=step.ts.id,
        measured_at=data.measured_at, moment=data.moment.value,
        systolic_mmhg=data.systolic_mmhg, diastolic_mmhg=data.diastolic_mmhg,
        heart_rate_bpm=data.heart_rate_bpm, spo2_percent=data.spo2_percent,
        alerts=rules.vitals_alerts(pressure, data.heart_rate_bpm, data.spo2_percent, limits),
        recorded_by=step.performer, created_at=caller.now,
    )  # fmt: skip
    db.add(reading)
    await db.flush()
    return reading
