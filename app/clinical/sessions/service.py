"""Sessions: a patient's visit under an in-clinic plan, each step moving stock through the
ledger in the same transaction.

Stock withdrawn for a session moves (a ledger ``move``) from storage into the session's own
holding, an ``in_use`` location; administrations, waste and returns draw from it, so nothing
is counted twice and what is left at the end is the unresolved amount (DESIGN.md). Each step
locks the session's row first, so concurrent steps of one session take turns.
"""

import dataclasses
import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.scoping import within_registrants
from app.catalog.models import Lot, Product
from app.catalog.substances import DosageForm, Substance, base_mg
from app.clinical.models import TreatmentPlan
from app.clinical.schemas import Modality, PlanStatus
from app.clinical.sessions import rules, schemas
from app.clinical.sessions.models import SessionAdministration, SessionVitals, TreatmentSession
from app.clinical.sessions.rules import SessionRule
from app.clinical.sessions.views import (
    administrations_of,
    holding_on_hand_mg,
    reading,
    vitals_of,
)
from app.core import outbox
from app.core.db import where_given
from app.core.errors import AppError, Conflict, InvalidInput, NotFound
from app.core.overrides import refuse_unless_overridden
from app.core.quantity import rounded
from app.core.revisions import record_revision
from app.ledger import queries as ledger_queries
from app.ledger import service as ledger
from app.ledger.references import acting_staff, invalid, owned, owned_staff
from app.ledger.schemas import EventCreate
from app.ledger.types import EventType
from app.registry.enums import LocationKind, RemsCertificationStatus
from app.registry.models import Location, Patient, Registrant, Staff
from app.registry.service import get_registrant, local_date

Status = schemas.SessionStatus

PRODUCT_OF: dict[Modality, tuple[Substance, DosageForm]] = {
    Modality.iv_infusion: (Substance.ketamine, DosageForm.injection),
    Modality.esketamine_nasal: (Substance.esketamine, DosageForm.nasal_spray),
}
"""What each in-clinic modality gives: the substance and form its lots must be of."""


class SessionStateConflict(Conflict):
    slug = "session-state"
    title = "Not allowed in the session's state"
    description = (
        "A session moves forward only (scheduled, in progress, observing, then discharged or "
        "aborted); this step belongs to another state."
    )


class HoldingNotEmpty(AppError):
    slug = "holding-not-empty"
    status = 422
    title = "Holding not empty"
    description = (
        "Stock withdrawn for the session is still in its holding: administer, waste or return "
        "it, or state unresolved_reason (reconciliation flags the amount)."
    )


class RemsAlreadySubmitted(Conflict):
    slug = "rems-already-submitted"
    title = "Monitoring form already submitted"
    description = "The session's Patient Monitoring Form submission is recorded already."


# Creating


async def create_session(
    db: AsyncSession, *, data: schemas.SessionCreate, context: ledger.Context
) -> TreatmentSession:
    principal = context.principal
    registrant = await get_registrant(db, data.registrant_id, principal=principal)
    principal.require(Permission.sessions)
    rid = registrant.id
    patient = await owned(db, Patient, data.patient_id, registrant_id=rid, pointer="#/patient_id")
    plan = await _in_clinic_plan(db, data)
    location = await owned(db, Location, data.location_id, registrant_id=rid,
                           pointer="#/location_id")  # fmt: skip
    if location.kind == LocationKind.in_use:
        raise invalid("#/location_id", "room (a session's holding is not one)")
    await owned_staff(db, data.staff_ids, registrant_id=rid, pointer="#/staff_ids")
    modality = Modality(plan.modality)
    facts = rules.SchedulingFacts(
        modality=modality,
        rems=_rems(registrant, patient),
        day=local_date(registrant, data.scheduled_at),
        plan_starts_on=plan.starts_on,
        plan_ends_on=plan.ends_on,
        sessions_per_week=plan.sessions_per_week,
        total_sessions=plan.total_sessions,
        **await _plan_sessions(db, plan, registrant, data.scheduled_at),
    )
    broken = _judge(rules.scheduling_breaks(facts), data.override_reason, context,
                    step="scheduling", when=data.scheduled_at)  # fmt: skip
    session_id = uuid.uuid4()
    holding = Location(
        id=uuid.uuid4(), registrant_id=rid, name=f"Session {session_id}",
        kind=LocationKind.in_use.value, active=True, session_id=session_id,
        created_at=context.now,
    )  # fmt: skip
    ts = TreatmentSession(
        id=session_id, registrant_id=rid, patient_id=patient.id, plan_id=plan.id,
        modality=modality.value, location_id=location.id, holding_location_id=holding.id,
        staff_ids=[str(staff_id) for staff_id in data.staff_ids], status=Status.scheduled.value,
        scheduled_at=data.scheduled_at, weight_kg=data.weight_kg,
        expected_dose_mg=_expected_dose(plan, data.weight_kg), broken_rules=broken,
        created_by=principal.subject, version=1, created_at=context.now,
        updated_at=context.now,
    )  # fmt: skip
    db.add(holding)
    await db.flush()
    db.add(ts)
    await db.flush()
    await _keep_revision(db, ts, context)
    await _announce(db, ts, broken, context)
    return ts


async def _announce(
    db: AsyncSession,
    ts: TreatmentSession,
    entries: list[dict[str, Any]],
    context: ledger.Context,
    event_ids: tuple[uuid.UUID, ...] = (),
) -> None:
    """Tell reconciliation, through the outbox, what a step broke (ids only, no patient data)."""
    for entry in entries:
        payload = {"subject": "session", "subject_id": str(ts.id), **entry,
                   "staff_ids": ts.staff_ids, "event_ids": [str(e) for e in event_ids]}  # fmt: skip
        await outbox.publish(db, topic=outbox.RULES_BROKEN, registrant_id=ts.registrant_id,
                             payload=payload, now=context.now)  # fmt: skip


def _rems(registrant: Registrant, patient: Patient) -> rules.Rems:
    certified = registrant.rems_certification_status == RemsCertificationStatus.certified
    return rules.Rems(setting_certified=certified,
                      patient_enrolled=patient.rems_enrollment_id is not None)  # fmt: skip


async def _in_clinic_plan(db: AsyncSession, data: schemas.SessionCreate) -> TreatmentPlan:
    """The patient's active IV or esketamine plan, locked: sessions counted against it are
    counted one creation at a time."""
    plan = await db.get(TreatmentPlan, data.plan_id, with_for_update=True)
    if (
        plan is None
        or plan.registrant_id != data.registrant_id
        or plan.patient_id != data.patient_id
        or plan.modality not in PRODUCT_OF
    ):
        raise invalid("#/plan_id", "IV or esketamine treatment plan of this patient")
    if plan.status != PlanStatus.active:
        raise InvalidInput.at("#/plan_id", f"the plan is {plan.status}, not active")
    if plan.modality == Modality.iv_infusion and data.weight_kg is None:
        raise InvalidInput.at("#/weight_kg", "an IV dose follows from the weight taken that day")
    return plan


def _expected_dose(plan: TreatmentPlan, weight_kg: Decimal | None) -> Decimal:
    if plan.modality == Modality.iv_infusion:
        assert plan.dose_mg_per_kg is not None
        assert weight_kg is not None
        return rounded(plan.dose_mg_per_kg * weight_kg)
    assert plan.dose_mg is not None
    return plan.dose_mg


async def _plan_sessions(
    db: AsyncSession, plan: TreatmentPlan, registrant: Registrant, at: datetime
) -> dict[str, int]:
    """The plan's sessions not aborted: in the (registrant's local, Monday to Sunday) week of
    ``at``, and in all."""
    zone = ZoneInfo(registrant.timezone)
    day = local_date(registrant, at)
    monday = day - timedelta(days=day.weekday())
    week_start = datetime.combine(monday, time(), zone).astimezone(UTC)
    week_end = datetime.combine(monday + timedelta(days=7), time(), zone).astimezone(UTC)
    counted = (TreatmentSession.plan_id == plan.id) & (TreatmentSession.status != Status.aborted)
    in_week = TreatmentSession.scheduled_at.between(week_start, week_end - timedelta.resolution)
    so_far = await db.scalar(select(func.count()).where(counted))
    that_week = await db.scalar(select(func.count()).where(counted & in_week))
    return {"sessions_that_week": that_week or 0, "sessions_so_far": so_far or 0}


def _judge(
    broken: list[SessionRule],
    override_reason: str | None,
    context: ledger.Context,
    *,
    step: str,
    when: datetime,
) -> list[dict[str, Any]]:
    """What the step broke, as an entry of the session's ``broken_rules``: an instruction is
    refused unless a prescriber overrides it; a record is kept with what it broke."""
    if not broken:
        return []
    record = context.reports_record(when)
    if not record:
        refuse_unless_overridden(rules.PROBLEMS, broken, override_reason,
                                 never=rules.NEVER_OVERRIDDEN)  # fmt: skip
        context.principal.require(Permission.clinical_plans)  # a prescriber's call
    return [{
        "step": step, "rules": [rule.value for rule in broken],
        "override_reason": None if record else override_reason, "record": record,
        "by": context.principal.subject, "at": context.now.isoformat(),
    }]  # fmt: skip


# Reading and locking


async def get_session(
    db: AsyncSession, session_id: uuid.UUID, *, principal: Principal, lock: bool = False
) -> TreatmentSession:
    ts = await db.get(TreatmentSession, session_id, with_for_update=lock, populate_existing=lock)
    if ts is None or not principal.sees(ts.registrant_id):
        raise NotFound("session not found")
    principal.require(Permission.sessions)
    return ts


def sessions_query(
    principal: Principal,
    *,
    registrant_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    plan_id: uuid.UUID | None,
    status: Status | None,
) -> Select[TreatmentSession]:
    principal.require(Permission.sessions)
    statement = within_registrants(
        select(TreatmentSession), TreatmentSession.registrant_id, principal, registrant_id
    )
    return where_given(
        statement,
        (TreatmentSession.patient_id, patient_id),
        (TreatmentSession.plan_id, plan_id),
        (TreatmentSession.status, status.value if status else None),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Step:
    """A step under way: the session (locked), its registrant, who does it, and the ledger
    context that may use the session's holding."""

    ts: TreatmentSession
    registrant: Registrant
    staff: Staff | None
    """Who does it (none for a step that records no one's act but the caller's)."""
    context: ledger.Context

    @property
    def modality(self) -> Modality:
        return Modality(self.ts.modality)

    @property
    def performer(self) -> uuid.UUID:
        assert self.staff is not None
        return self.staff.id

    def event(self, type_: EventType, **fields: Any) -> EventCreate:
        return EventCreate(
            registrant_id=self.ts.registrant_id, type=type_, performed_by=self.performer,
            patient_id=self.ts.patient_id, session_id=self.ts.id, **fields,
        )  # fmt: skip


async def _begin(
    db: AsyncSession,
    session_id: uuid.UUID,
    context: ledger.Context,
    *,
    allowed: frozenset[Status],
    performer: uuid.UUID | None = None,
    pointer: str = "#/performed_by",
    acts: bool = True,
) -> _Step:
    ts = await get_session(db, session_id, principal=context.principal, lock=True)
    if ts.status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise SessionStateConflict(f"the session is {ts.status}; this step needs it {names}")
    registrant = await get_registrant(db, ts.registrant_id, principal=context.principal)
    staff = None
    if acts:
        staff = await acting_staff(db, registrant_id=ts.registrant_id, named=performer,
                                   principal=context.principal, pointer=pointer)  # fmt: skip
    return _Step(ts, registrant, staff, dataclasses.replace(context, holding_session_id=ts.id))


_UNDER_WAY = frozenset({Status.in_progress, Status.observing})
_OPEN = frozenset({Status.scheduled, Status.in_progress, Status.observing})


def _not_before_start(ts: TreatmentSession, when: datetime, pointer: str) -> None:
    if ts.started_at is not None and when < ts.started_at:
        raise InvalidInput.at(pointer, "before the session's first withdrawal")


def _not_in_future(when: datetime, context: ledger.Context, pointer: str) -> None:
    """What a session records has happened: no later than now, give or take the skew."""
    if when > context.now + timedelta(seconds=context.settings.future_skew_seconds):
        raise InvalidInput.at(pointer, "cannot lie in the future")


async def _lot_for(db: AsyncSession, step: _Step, lot_id: uuid.UUID) -> tuple[Lot, Product]:
    """A lot of what the session's modality gives."""
    rid = step.ts.registrant_id
    lot = await owned(db, Lot, lot_id, registrant_id=rid, pointer="#/lot_id")
    product = await owned(db, Product, lot.product_id, registrant_id=rid, pointer="#/lot_id")
    substance, form = PRODUCT_OF[step.modality]
    if product.substance != substance or product.dosage_form != form:
        raise invalid("#/lot_id", f"lot of {substance} {form.replace('_', ' ')}")
    return lot, product


async def _storage(db: AsyncSession, step: _Step, location_id: uuid.UUID, pointer: str) -> None:
    location = await owned(db, Location, location_id, registrant_id=step.ts.registrant_id,
                           pointer=pointer)  # fmt: skip
    if location.kind == LocationKind.in_use:
        raise invalid(pointer, "storage location (not a session's holding)")


async def _changed(db: AsyncSession, step: _Step) -> None:
    step.ts.version += 1
    step.ts.updated_at = step.context.now
    await db.flush()
    await _keep_revision(db, step.ts, step.context)


# Steps that move stock


async def withdraw(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.WithdrawalCreate, context: ledger.Context
) -> tuple[TreatmentSession, dict[str, Any]]:
    step = await _begin(db, session_id, context, allowed=_OPEN, performer=data.performed_by)
    await _storage(db, step, data.from_location_id, "#/from_location_id")
    await _lot_for(db, step, data.lot_id)
    event = step.event(EventType.move, location_id=data.from_location_id,
                       to_location_id=step.ts.holding_location_id, lot_id=data.lot_id,
                       quantity=data.quantity, occurred_at=data.occurred_at)  # fmt: skip
    row = await ledger.append(db, event, step.context)
    if step.ts.status == Status.scheduled:
        step.ts.status = Status.in_progress.value
        step.ts.started_at = data.occurred_at
    await _changed(db, step)
    return step.ts, row


async def administer(
    db: AsyncSession,
    session_id: uuid.UUID,
    data: schemas.AdministrationCreate,
    context: ledger.Context,
) -> tuple[TreatmentSession, dict[str, Any]]:
    # Observing too: a dose beyond the plan is the dose rule's to judge, not the state's.
    step = await _begin(db, session_id, context, allowed=_UNDER_WAY, performer=data.performed_by)
    ts = step.ts
    _not_before_start(ts, data.started_at, "#/started_at")
    _lot, product = await _lot_for(db, step, data.lot_id)
    _check_administered_quantity(step.modality, data)
    mg = rounded(base_mg(data.quantity * product.strength_value, product.substance,
                         product.strength_basis))  # fmt: skip
    given = await administrations_of(db, ts.id, reversed_too=False)  # the dose so far
    patient = await db.get(Patient, ts.patient_id)
    assert patient is not None
    facts = rules.AdministrationFacts(
        modality=step.modality,
        rems=_rems(step.registrant, patient),
        expected_dose_mg=ts.expected_dose_mg,
        tolerance_percent=context.settings.iv_dose_tolerance_percent,
        given_before_mg=sum((a.mg for a in given), Decimal(0)),
        mg=mg,
        started_at=data.started_at,
        previous_started_at=given[-1].started_at if given else None,
        predose_pressure=await _predose_pressure(db, ts.id, data.started_at),
        max_predose=rules.BloodPressure(context.settings.esketamine_max_predose_systolic,
                                        context.settings.esketamine_max_predose_diastolic),
    )  # fmt: skip
    entry = _judge(rules.administration_breaks(facts), data.override_reason, context,
                   step="administration", when=data.started_at)  # fmt: skip
    event = step.event(EventType.administer, location_id=ts.holding_location_id,
                       lot_id=data.lot_id, quantity=data.quantity, occurred_at=data.started_at,
                       override_reason=data.override_reason)  # fmt: skip
    row = await ledger.append(db, event, step.context)
    db.add(SessionAdministration(
        id=uuid.uuid4(), registrant_id=ts.registrant_id, session_id=ts.id, event_id=row["id"],
        lot_id=data.lot_id, quantity=data.quantity, mg=mg, started_at=data.started_at,
        ended_at=data.ended_at, administered_by=step.performer,
        broken_rules=entry[0]["rules"] if entry else [],
        override_reason=data.override_reason if entry else None, created_at=context.now,
    ))  # fmt: skip
    ts.broken_rules = [*ts.broken_rules, *entry]
    await _announce(db, ts, entry, context, (row["id"],))
    ts.first_dose_at = ts.first_dose_at or data.started_at
    if _dose_complete(step.modality, ts.expected_dose_mg, facts.given_before_mg + mg):
        ts.status = Status.observing.value
        ts.dosing_ended_at = max(ts.dosing_ended_at or data.started_at,
                                 data.ended_at or data.started_at)  # fmt: skip
    await _changed(db, step)
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
    db: AsyncSession, session_id: uuid.UUID, data: schemas.WasteCreate, context: ledger.Context
) -> tuple[TreatmentSession, dict[str, Any]]:
    step = await _begin(db, session_id, context, allowed=_UNDER_WAY, performer=data.performed_by)
    _not_before_start(step.ts, data.occurred_at, "#/occurred_at")
    await _lot_for(db, step, data.lot_id)
    await owned_staff(db, [data.witness_id], registrant_id=step.ts.registrant_id,
                      pointer="#/witness_id")  # fmt: skip
    if data.witness_id == step.performer:
        raise InvalidInput.at("#/witness_id", "the witness is someone other than the waster")
    event = step.event(EventType.waste, location_id=step.ts.holding_location_id,
                       lot_id=data.lot_id, quantity=data.quantity, occurred_at=data.occurred_at,
                       witness_ids=[data.witness_id], reason=data.reason)  # fmt: skip
    row = await ledger.append(db, event, step.context)
    await _changed(db, step)
    return step.ts, row


async def return_to_stock(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.ReturnCreate, context: ledger.Context
) -> tuple[TreatmentSession, dict[str, Any]]:
    step = await _begin(db, session_id, context, allowed=_UNDER_WAY, performer=data.performed_by)
    _not_before_start(step.ts, data.occurred_at, "#/occurred_at")
    await _storage(db, step, data.to_location_id, "#/to_location_id")
    await _lot_for(db, step, data.lot_id)
    event = step.event(EventType.return_to_stock, location_id=step.ts.holding_location_id,
                       to_location_id=data.to_location_id, lot_id=data.lot_id,
                       quantity=data.quantity, occurred_at=data.occurred_at)  # fmt: skip
    row = await ledger.append(db, event, step.context)
    await _changed(db, step)
    return step.ts, row


async def confirm_witness(
    db: AsyncSession, session_id: uuid.UUID, event_id: uuid.UUID, context: ledger.Context
) -> TreatmentSession:
    """A witness of one of the session's events confirms it with their own token; allowed
    after the session ended too (the witness may be called away)."""
    ts = await get_session(db, session_id, principal=context.principal)
    event = await ledger_queries.get_event(db, event_id, principal=context.principal)
    if event.session_id != ts.id:
        raise invalid("#/event_id", "ledger event of this session")
    await ledger.confirm_witness(db, event, context)
    return ts


# Vitals


async def record_vitals(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.VitalsCreate, context: ledger.Context
) -> SessionVitals:
    step = await _begin(db, session_id, context, allowed=_OPEN, performer=data.recorded_by,
                        pointer="#/recorded_by")  # fmt: skip
    _not_in_future(data.measured_at, context, "#/measured_at")
    settings = context.settings
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
        recorded_by=step.performer, created_at=context.now,
    )  # fmt: skip
    db.add(reading)
    await db.flush()
    return reading


# Ending


async def discharge(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.DischargeCreate, context: ledger.Context
) -> TreatmentSession:
    step = await _begin(db, session_id, context, allowed=_UNDER_WAY, acts=False)
    ts = step.ts
    _check_discharge_content(step.modality, data)
    _not_in_future(data.discharged_at, context, "#/discharged_at")
    if data.discharged_at < (ts.dosing_ended_at or ts.started_at or data.discharged_at):
        raise InvalidInput.at("#/discharged_at", "before the session's dosing ended")
    _check_assessment(ts, data)
    facts = rules.DischargeFacts(
        modality=step.modality,
        first_dose_at=ts.first_dose_at,
        discharged_at=data.discharged_at,
        monitoring_minutes=context.settings.esketamine_monitoring_minutes,
        readings=rules.monitoring_readings(
            [reading(v) for v in await vitals_of(db, ts.id)], ts.first_dose_at, data.discharged_at
        ),
        stable=data.clinical_stability is None or data.clinical_stability.stable,
    )
    entry = _judge(rules.discharge_breaks(facts), data.override_reason, context,
                   step="discharge", when=data.discharged_at)  # fmt: skip
    ts.broken_rules = [*ts.broken_rules, *entry]
    await _announce(db, ts, entry, context)
    await _close_holding(db, ts, data.unresolved_reason)
    ts.status = Status.discharged.value
    ts.ended_at = data.discharged_at
    if data.clinical_stability is not None:
        ts.clinical_stability = data.clinical_stability.model_dump(mode="json")
    if data.observations is not None:
        ts.observations = data.observations.model_dump(mode="json")
    await _changed(db, step)
    await outbox.publish(db, topic=outbox.SESSION_DISCHARGED, registrant_id=ts.registrant_id,
                         payload={"session_id": str(ts.id), "patient_id": str(ts.patient_id)},
                         now=context.now)  # fmt: skip
    return ts


def _check_assessment(ts: TreatmentSession, data: schemas.DischargeCreate) -> None:
    """The stability assessment belongs to this session's monitoring: after dosing began,
    no later than the discharge."""
    stability = data.clinical_stability
    began = ts.first_dose_at or ts.started_at
    if stability is not None and not (
        (began is None or stability.assessed_at >= began)
        and stability.assessed_at <= data.discharged_at
    ):
        raise InvalidInput.at("#/clinical_stability/assessed_at",
                              "between the first dose and the discharge")  # fmt: skip


def _check_discharge_content(modality: Modality, data: schemas.DischargeCreate) -> None:
    """An esketamine discharge carries what the Patient Monitoring Form asks."""
    if modality is not Modality.esketamine_nasal:
        return
    for field in ("clinical_stability", "observations"):
        if getattr(data, field) is None:
            raise InvalidInput.at(f"#/{field}", "an esketamine discharge records it (REMS)")


async def _close_holding(
    db: AsyncSession, ts: TreatmentSession, unresolved_reason: str | None
) -> None:
    """The holding is empty, or what is left in it is stated with a reason."""
    left = await holding_on_hand_mg(db, ts.holding_location_id)
    if left > 0:
        if unresolved_reason is None:
            raise HoldingNotEmpty(f"{left} mg is still in the session's holding")
        ts.unresolved_mg = left
        ts.unresolved_reason = unresolved_reason
    holding = await db.get(Location, ts.holding_location_id)
    assert holding is not None
    holding.active = False


async def abort(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.AbortCreate, context: ledger.Context
) -> TreatmentSession:
    step = await _begin(db, session_id, context, allowed=_OPEN, acts=False)
    _not_in_future(data.aborted_at, context, "#/aborted_at")
    await _close_holding(db, step.ts, data.unresolved_reason)
    step.ts.status = Status.aborted.value
    step.ts.ended_at = data.aborted_at
    step.ts.end_reason = data.reason
    await _changed(db, step)
    return step.ts


async def record_rems_submission(
    db: AsyncSession,
    session_id: uuid.UUID,
    data: schemas.RemsSubmissionCreate,
    context: ledger.Context,
) -> TreatmentSession:
    step = await _begin(db, session_id, context, allowed=frozenset({Status.discharged}),
                        acts=False)  # fmt: skip
    ts = step.ts
    if step.modality is not Modality.esketamine_nasal:
        raise InvalidInput.at("#", "only esketamine sessions have a Patient Monitoring Form")
    if ts.rems_submitted_on is not None:
        raise RemsAlreadySubmitted(f"submitted on {ts.rems_submitted_on.isoformat()}")
    assert ts.ended_at is not None
    if (
        not local_date(step.registrant, ts.ended_at)
        <= data.submitted_on
        <= local_date(step.registrant, context.now)
    ):
        raise InvalidInput.at("#/submitted_on", "between the session's discharge and today")
    ts.rems_submitted_on = data.submitted_on
    ts.rems_submission_reference = data.reference
    await _changed(db, step)
    return ts


async def _keep_revision(db: AsyncSession, ts: TreatmentSession, context: ledger.Context) -> None:
    await record_revision(
        db,
        registrant_id=ts.registrant_id,
        entity_type=TreatmentSession.__tablename__,
        entity_id=ts.id,
        version=ts.version,
        data=schemas.SessionRecordOut.model_validate(ts).model_dump(mode="json"),
        changed_at=context.now,
        changed_by=context.principal.subject,
    )
