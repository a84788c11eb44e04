"""A patient's administration record: each in-clinic session, as a state board inspector reads
it, with its plan and prescriber, the dose per kg and in total, the route, what was given
from which product and lot and by whom, the vital signs, the waste and its witness, the
discharge and its assessment, and for esketamine the Patient Monitoring Form's status
(docs/domain.md#session, #patient-monitoring-form).

Sessions come a fetch at a time; what they recorded (ledger events, administrations, vitals,
witness confirmations) and the names beside their ids are read for the whole fetch at once.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.names import Names, StaffName, Within, credential
from app.clinical.models import TreatmentPlan
from app.clinical.schemas import Modality
from app.clinical.sessions import views
from app.clinical.sessions.models import SessionAdministration, SessionVitals, TreatmentSession
from app.clinical.sessions.monitoring import monitoring_form
from app.core.quantity import format_quantity, rounded
from app.ledger.models import LedgerEvent
from app.ledger.queries import confirmations_of
from app.ledger.types import EventType
from app.registry.models import Patient
from app.reports import rems
from app.reports.scope import Scope
from app.reports.streaming import FETCH_ROWS, RowSource
from app.reports.tabular import Chunks, Column, Row

NAME = "administration_record"
TITLE = "Administration record"
SIGNATURES = ("Reviewed by",)
RECORD = "Session"
"""What each record of the printed report is."""
ROUTES = {
    Modality.iv_infusion.value: "intravenous infusion",
    Modality.esketamine_nasal.value: "intranasal (nasal spray device)",
}
FORM_PATH = "/v1/reports/rems-monitoring-form"


def head_fields(patient: Patient) -> dict[str, Any]:
    """Whom the record is of, printed above its sessions."""
    return {
        "patient_id": patient.id,
        "patient_name": f"{patient.given_name} {patient.family_name}",
        "patient_record_number": patient.external_id,
        "patient_date_of_birth": patient.date_of_birth,
        "rems_enrollment_id": patient.rems_enrollment_id,
    }


def statement(
    scope: Scope, patient_id: uuid.UUID, start: datetime | None, end: datetime | None
) -> Select[*tuple[Any, ...]]:
    """The patient's sessions with their plans, by when they were scheduled (within the
    period, if one is given)."""
    query: Select[*tuple[Any, ...]] = (
        select(TreatmentSession, TreatmentPlan)
        .join(TreatmentPlan, TreatmentPlan.id == TreatmentSession.plan_id)
        .where(TreatmentSession.registrant_id == scope.registrant.id,
               TreatmentSession.patient_id == patient_id)
        .order_by(TreatmentSession.scheduled_at, TreatmentSession.id)
    )  # fmt: skip
    if start is not None and end is not None:
        query = query.where(TreatmentSession.scheduled_at >= start,
                            TreatmentSession.scheduled_at < end)  # fmt: skip
    return query


@dataclass(frozen=True, slots=True)
class _Recorded:
    """What a fetch of sessions recorded, by session id, and the names of all it mentions."""

    events: dict[uuid.UUID, list[LedgerEvent]]
    confirmed: dict[uuid.UUID, list[uuid.UUID]]
    given: dict[uuid.UUID, list[SessionAdministration]]
    vitals: dict[uuid.UUID, list[SessionVitals]]
    on_hand_mg: dict[uuid.UUID, Decimal]
    names: Names


async def rows(
    db: AsyncSession, query: Select[*tuple[Any, ...]], scope: Scope, today: date
) -> Chunks:
    result = await db.stream(query.execution_options(yield_per=FETCH_ROWS))
    async for partition in result.partitions(FETCH_ROWS):
        found = [(ts, plan) for ts, plan in partition]
        recorded = await _recorded(db, scope, found)
        yield [_row(ts, plan, recorded, scope, today) for ts, plan in found]


async def _recorded(
    db: AsyncSession, scope: Scope, found: Sequence[tuple[TreatmentSession, TreatmentPlan]]
) -> _Recorded:
    ids = [ts.id for ts, _ in found]
    events: dict[uuid.UUID, list[LedgerEvent]] = {i: [] for i in ids}
    for event in await db.scalars(
        select(LedgerEvent).where(LedgerEvent.session_id.in_(ids)).order_by(LedgerEvent.sequence)
    ):
        assert event.session_id is not None
        events[event.session_id].append(event)
    every = [event for listed in events.values() for event in listed]
    vitals = await views.vitals_of_sessions(db, ids)
    names = await Within([scope.registrant.id], patients_named=True).names(
        db,
        locations=(ts.location_id for ts, _ in found),
        lots=(event.lot_id for event in every),
        products=(event.product_id for event in every),
        staff=[*(plan.prescriber_id for _, plan in found), *(e.performed_by for e in every),
               *(uuid.UUID(w) for e in every for w in e.witness_ids),
               *(v.recorded_by for listed in vitals.values() for v in listed)],
    )  # fmt: skip
    return _Recorded(
        events=events,
        confirmed=await confirmations_of(db, [event.id for event in every]),
        given=await views.administrations_of_sessions(db, ids, reversed_too=False),
        vitals=vitals,
        on_hand_mg={
            ts.id: await views.holding_on_hand_mg(db, ts.holding_location_id) for ts, _ in found
        },
        names=names,
    )


def _row(
    ts: TreatmentSession, plan: TreatmentPlan, recorded: _Recorded, scope: Scope, today: date
) -> Row:
    names, events = recorded.names, recorded.events[ts.id]
    given = recorded.given[ts.id]
    given_mg = sum((a.mg for a in given), Decimal(0))
    accounting = views.accounting(events, recorded.on_hand_mg[ts.id])
    room = names.locations.get(ts.location_id)
    day = scope.local(ts.scheduled_at).date()
    return {
        "session_id": ts.id,
        "status": ts.status,
        "scheduled_at": scope.local(ts.scheduled_at),
        "started_at": ts.started_at and scope.local(ts.started_at),
        "room": room and room.name,
        "route": ROUTES.get(ts.modality, ts.modality),
        "plan_id": plan.id,
        "plan": _plan(plan),
        "prescriber": _person(names.staff.get(plan.prescriber_id)),
        "weight_kg": ts.weight_kg,
        "planned_dose": _planned_dose(plan),
        "expected_dose_mg": ts.expected_dose_mg,
        "dose_mg": given_mg,
        "dose_mg_per_kg": rounded(given_mg / ts.weight_kg) if ts.weight_kg else None,
        "administrations": [_given(a, events, names, scope, day) for a in given],
        "vitals": [_vitals(v, names, scope, day) for v in recorded.vitals[ts.id]],
        "withdrawn_mg": accounting.withdrawn_mg,
        "administered_mg": accounting.administered_mg,
        "wasted_mg": accounting.wasted_mg,
        "returned_mg": accounting.returned_mg,
        "waste": [_waste(e, recorded.confirmed[e.id], names, scope, day) for e in events
                  if e.type == EventType.waste.value],
        "unresolved": _unresolved(ts),
        "ended_at": ts.ended_at and scope.local(ts.ended_at),
        "end_reason": ts.end_reason,
        "clinical_stability": _stability(ts.clinical_stability, scope, day),
        "observations": _observations(ts.observations),
        **_form(ts, given, recorded, names, scope, today),
        "broken_rules": [f"{found['step']}: {', '.join(found['rules'])}"
                         for found in ts.broken_rules],
    }  # fmt: skip


def _at(instant: datetime, scope: Scope, day: date) -> str:
    """An instant within a session: its time on the session's day, else its date too."""
    local = scope.local(instant)
    return f"{local:%H:%M}" if local.date() == day else f"{local:%Y-%m-%d %H:%M}"


def _person(staff: StaffName | None) -> str | None:
    """A staff member's name and credential: "Nora Nurse (nurse, license RN-1)"."""
    if staff is None:
        return None
    return f"{staff.name} ({credential(staff.role, staff.state_license)})"


def _plan(plan: TreatmentPlan) -> str:
    days = f"{plan.starts_on.isoformat()} to {plan.ends_on.isoformat()}"
    return (
        f"{plan.sessions_per_week} a week, {plan.total_sessions} sessions, {days} ({plan.status})"
    )


def _planned_dose(plan: TreatmentPlan) -> str | None:
    if plan.dose_mg_per_kg is not None:
        return f"{format_quantity(plan.dose_mg_per_kg)} mg/kg"
    if plan.dose_mg is not None:
        return f"{format_quantity(plan.dose_mg)} mg"
    return None


def _given(
    given: SessionAdministration, events: list[LedgerEvent], names: Names, scope: Scope,
    day: date,
) -> str:  # fmt: skip
    """ "0.7 mL (35 mg) of Ketamine ... (NDC 00409..., 50 mg/mL), lot L-1 (expires
    2027-01-31), 04:10 to 04:50, by Nora Nurse (nurse)"."""
    event = next(e for e in events if e.id == given.event_id)
    product, lot = names.products.get(event.product_id), names.lots.get(given.lot_id)
    what = product and f"{product.name} ({product.code}, {product.strength})"
    which = lot and f"lot {lot.lot_number} (expires {lot.expires_on.isoformat()})"
    ended = f" to {_at(given.ended_at, scope, day)}" if given.ended_at else ""
    by = _person(names.staff.get(given.administered_by))
    return (f"{format_quantity(given.quantity)} {_unit(event)} ({format_quantity(given.mg)} mg) "
            f"of {what}, {which}, {_at(given.started_at, scope, day)}{ended}, by {by}")  # fmt: skip


def _unit(event: LedgerEvent) -> str:
    unit: str = event.snapshot["product"]["inventory_unit"]
    return unit


def _vitals(vitals: SessionVitals, names: Names, scope: Scope, day: date) -> str:
    """ "04:05 pre_dose: BP 128/82, HR 76, SpO2 98 %, by Nora Nurse (alerts: ...)"."""
    spo2 = f", SpO2 {vitals.spo2_percent} %" if vitals.spo2_percent is not None else ""
    by = names.staff.get(vitals.recorded_by)
    alerts = f" (alerts: {', '.join(vitals.alerts)})" if vitals.alerts else ""
    return (f"{_at(vitals.measured_at, scope, day)} {vitals.moment}: BP {vitals.systolic_mmhg}/"
            f"{vitals.diastolic_mmhg}, HR {vitals.heart_rate_bpm}{spo2}, by "
            f"{by and by.name}{alerts}")  # fmt: skip


def _waste(
    event: LedgerEvent, confirmed: list[uuid.UUID], names: Names, scope: Scope, day: date
) -> str:
    """ "0.3 mL (15 mg) at 04:52 by Nora Nurse (nurse), witnessed by Wes Witness
    (confirmed)"."""
    named = [uuid.UUID(w) for w in event.witness_ids if uuid.UUID(w) in names.staff]
    witnesses = [
        f"{names.staff[w].name} ({'confirmed' if w in confirmed else 'not confirmed'})"
        for w in named
    ]
    by = _person(names.staff.get(event.performed_by)) if event.performed_by else None
    return (f"{format_quantity(event.quantity)} {_unit(event)} ({format_quantity(event.mg)} mg) "
            f"at {_at(event.occurred_at, scope, day)} by {by}, witnessed by "
            f"{', '.join(witnesses) or 'nobody'}")  # fmt: skip


def _unresolved(ts: TreatmentSession) -> str | None:
    if not ts.unresolved_mg:
        return None
    return f"{format_quantity(ts.unresolved_mg)} mg left: {ts.unresolved_reason}"


def _stability(found: dict[str, Any] | None, scope: Scope, day: date) -> str | None:
    """ "stable, assessed at 06:10: alert and oriented"."""
    if found is None:
        return None
    note = f": {found['note']}" if found.get("note") else ""
    assessed = _at(datetime.fromisoformat(found["assessed_at"]), scope, day)
    return f"{'stable' if found['stable'] else 'not stable'}, assessed at {assessed}{note}"


def _observations(found: dict[str, Any] | None) -> str | None:
    if found is None:
        return None
    said = [f"{name.replace('_', ' ')}: {'yes' if found.get(name) else 'no'}"
            for name in ("sedation", "dissociation", "respiratory_depression")]  # fmt: skip
    events = found.get("serious_adverse_events") or []
    return "; ".join([*said, f"serious adverse events: {', '.join(events) or 'none'}"])


def _form(
    ts: TreatmentSession, given: list[SessionAdministration], recorded: _Recorded,
    names: Names, scope: Scope, today: date,
) -> dict[str, Any]:  # fmt: skip
    """An esketamine session's Patient Monitoring Form: its status, what it lacks, and where
    it is printed; nothing for any other session."""
    if ts.modality != Modality.esketamine_nasal.value:
        return dict.fromkeys(_FORM_FIELDS)
    lots = {lot_id: lot.lot_number for lot_id, lot in names.lots.items()}
    readings = [views.reading(v) for v in recorded.vitals[ts.id]]
    form = monitoring_form(ts, scope.registrant, given, readings, lots)
    return {
        "monitoring_form": rems.submission(form, today),
        "monitoring_form_missing": form.missing,
        "monitoring_form_reference": f"{FORM_PATH}?session_id={ts.id}",
        "monitoring_form_submission": form.submission_reference,
    }


_FORM_FIELDS = ("monitoring_form", "monitoring_form_missing", "monitoring_form_reference",
                "monitoring_form_submission")  # fmt: skip


def source(
    scope: Scope, patient_id: uuid.UUID, start: datetime | None, end: datetime | None
) -> RowSource:
    """Whether a form is overdue is judged on the registrant's day the record is made."""
    query = statement(scope, patient_id, start, end)
    today = scope.local(scope.generated_at).date()
    return lambda db: rows(db, query, scope, today)


COLUMNS: list[Column] = [
    Column("session_id", "Session id", printed=False),
    Column("status", "Status"),
    Column("scheduled_at", "Scheduled"),
    Column("started_at", "Started", "the first withdrawal"),
    Column("room", "Room"),
    Column("route", "Route"),
    Column("plan_id", "Plan id", printed=False),
    Column("plan", "Plan"),
    Column("prescriber", "Prescriber", "the plan's prescriber and credential"),
    Column("weight_kg", "Weight (kg)"),
    Column("planned_dose", "Dose prescribed", "per kg, or in total"),
    Column("expected_dose_mg", "Dose expected (mg)", "the plan's dose for this session"),
    Column("dose_mg", "Dose given (mg)", "what was administered and not reversed"),
    Column("dose_mg_per_kg", "Dose given (mg/kg)"),
    Column("administrations", "Administered", "each: quantity, product, lot, times, by whom"),
    Column("vitals", "Vital signs", "each reading: when, moment, blood pressure, heart rate, "
           "SpO2, who, alerts"),
    Column("withdrawn_mg", "Withdrawn (mg)"),
    Column("administered_mg", "Administered (mg)"),
    Column("wasted_mg", "Wasted (mg)"),
    Column("returned_mg", "Returned (mg)"),
    Column("waste", "Waste", "each: quantity, when, by whom, the witness and whether they "
           "confirmed it"),
    Column("unresolved", "Left unresolved", "mg left in the session's holding, and why"),
    Column("ended_at", "Discharged or ended"),
    Column("end_reason", "Reason ended", "an aborted session's"),
    Column("clinical_stability", "Assessment at discharge"),
    Column("observations", "Observations"),
    Column("monitoring_form", "REMS monitoring form", "esketamine: submitted, late, due, "
           "overdue or not yet due"),
    Column("monitoring_form_missing", "Form lacks"),
    Column("monitoring_form_reference", "Form", "where the form is printed"),
    Column("monitoring_form_submission", "Form submission reference"),
    Column("broken_rules", "Rules broken", "each step that broke rules, as a record or "
           "overridden"),
]  # fmt: skip
