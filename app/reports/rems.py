"""Spravato REMS monitoring: each esketamine session of the period with its Patient
Monitoring Form (the patient, dose, lots, duration, blood pressures, observations) and
whether the form was submitted within its 7 days.

Sessions come a fetch at a time; their administrations, vitals and lots are read for the
whole fetch at once.
"""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clinical.schemas import Modality
from app.clinical.sessions import views
from app.clinical.sessions.models import TreatmentSession
from app.clinical.sessions.monitoring import BloodPressureOut, MonitoringFormOut, monitoring_form
from app.core.errors import AppError
from app.registry.models import Patient
from app.reports.scope import Scope
from app.reports.streaming import FETCH_ROWS, RowSource
from app.reports.tabular import Chunks, Column, Row

NAME = "rems_monitoring"
TITLE = "Spravato REMS patient monitoring"
FORM = "rems_monitoring_form"
FORM_TITLE = "Spravato REMS Patient Monitoring Form"
FORM_SIGNATURES = ("Healthcare provider who monitored the patient",)
FORM_LABELS = {
    "setting_rems_certification_id": "Healthcare setting REMS certification ID",
    "rems_enrollment_id": "Patient REMS ID",
    "dose_mg": "Dose given (mg)",
    "dose": "Dose (56 mg, 84 mg or other)",
    "first_device_at": "First device administered",
    "monitoring_ended_at": "Monitoring ended (patient ready to leave)",
    "total_minutes": "Total monitoring (minutes)",
    "bp_pre_dose": "Blood pressure before the first device",
    "bp_post_dose": "Blood pressure about 40 minutes after the first device",
    "bp_pre_discharge": "Blood pressure before discharge",
    "missing": "What the form still lacks",
    "due_on": "Form due (7 days after the session)",
}
"""How the printed form labels its fields, where the key alone would not say it."""


def statement(scope: Scope, start: datetime, end: datetime) -> Select[*tuple[Any, ...]]:
    """The period's esketamine sessions, by when they were scheduled, with their patients."""
    return (
        select(TreatmentSession, Patient)
        .join(Patient, Patient.id == TreatmentSession.patient_id)
        .where(TreatmentSession.registrant_id == scope.registrant.id,
               TreatmentSession.modality == Modality.esketamine_nasal.value,
               TreatmentSession.scheduled_at >= start, TreatmentSession.scheduled_at < end)
        .order_by(TreatmentSession.scheduled_at, TreatmentSession.id)
    )  # fmt: skip


async def rows(
    db: AsyncSession, query: Select[*tuple[Any, ...]], scope: Scope, today: date
) -> Chunks:
    result = await db.stream(query.execution_options(yield_per=FETCH_ROWS))
    async for partition in result.partitions(FETCH_ROWS):
        yield await _forms(db, partition, scope, today)


async def _forms(
    db: AsyncSession, partition: Sequence[Any], scope: Scope, today: date
) -> list[Row]:
    ids = [ts.id for ts, _patient in partition]
    given = await views.administrations_of_sessions(db, ids, reversed_too=False)
    vitals = await views.vitals_of_sessions(db, ids)
    lots = await views.lot_numbers(db, {a.lot_id for found in given.values() for a in found})
    return [
        _row(ts, patient, monitoring_form(ts, scope.registrant, given[ts.id],
                                          [views.reading(v) for v in vitals[ts.id]], lots),
             scope, today)
        for ts, patient in partition
    ]  # fmt: skip


def _row(
    ts: TreatmentSession, patient: Patient, form: MonitoringFormOut, scope: Scope, today: date
) -> Row:
    return {
        "session_id": ts.id,
        "status": ts.status,
        "scheduled_at": scope.local(ts.scheduled_at),
        "patient_id": patient.id,
        "patient_name": f"{patient.given_name} {patient.family_name}",
        "rems_enrollment_id": patient.rems_enrollment_id,
        "dose_mg": form.dose_mg,
        "dose": form.dose,
        "lot_numbers": form.lot_numbers,
        "first_device_at": form.first_device_at and scope.local(form.first_device_at),
        "monitoring_ended_at": form.monitoring_ended_at and scope.local(form.monitoring_ended_at),
        "total_minutes": form.total_minutes,
        "bp_pre_dose": _pressure(form.bp_pre_dose, scope),
        "bp_post_dose": _pressure(form.bp_post_dose, scope),
        "bp_pre_discharge": _pressure(form.bp_pre_discharge, scope),
        "sedation": form.sedation,
        "dissociation": form.dissociation,
        "respiratory_depression": form.respiratory_depression,
        "serious_adverse_events": form.serious_adverse_events,
        "missing": form.missing,
        "due_on": form.due_on,
        "submitted_on": form.submitted_on,
        "submission_reference": form.submission_reference,
        "submission": submission(form, today),
    }


def _pressure(reading: BloodPressureOut | None, scope: Scope) -> str | None:
    if reading is None:
        return None
    at = scope.local(reading.measured_at).strftime("%H:%M")
    return f"{reading.systolic_mmhg}/{reading.diastolic_mmhg} at {at}"


def submission(form: MonitoringFormOut, today: date) -> str:
    """submitted, late (submitted after it was due), due, overdue, or not yet due (the
    session has not ended)."""
    if form.due_on is None:
        return "not yet due"
    if form.submitted_on is not None:
        return "submitted" if form.submitted_on <= form.due_on else "late"
    return "overdue" if today > form.due_on else "due"


_NOT_ON_THE_FORM = frozenset({"patient_id"})
"""What the period's report has of a session and the form does not: the form names the
patient."""


async def form_fields(db: AsyncSession, ts: TreatmentSession, scope: Scope) -> dict[str, Any]:
    """One esketamine session's Patient Monitoring Form: the setting, the patient and every
    field the REMS form asks, as of the registrant's day the form is made."""
    if ts.modality != Modality.esketamine_nasal.value:
        raise NotEsketamine("only an esketamine session has a Patient Monitoring Form")
    patient = await db.get(Patient, ts.patient_id)
    assert patient is not None, "a session's patient is kept"
    today = scope.local(scope.generated_at).date()
    [row] = await _forms(db, [(ts, patient)], scope, today)
    return {
        "healthcare_setting": scope.registrant.name,
        "setting_rems_certification_id": scope.registrant.rems_certification_id,
        "patient_date_of_birth": patient.date_of_birth,
        **{key: value for key, value in row.items() if key not in _NOT_ON_THE_FORM},
    }


class NotEsketamine(AppError):
    slug = "not-esketamine"
    status = 422
    title = "Not an esketamine session"
    description = "The Spravato REMS Patient Monitoring Form is of an esketamine session."


def source(scope: Scope, start: datetime, end: datetime) -> RowSource:
    """Whether a form is overdue is judged on the registrant's day the report is made."""
    query = statement(scope, start, end)
    today = scope.local(scope.generated_at).date()
    return lambda db: rows(db, query, scope, today)


COLUMNS: list[Column] = [
    Column("session_id", "Session", printed=False),
    Column("status", "Session status"),
    Column("scheduled_at", "Scheduled"),
    Column("patient_id", "Patient id", printed=False),
    Column("patient_name", "Patient"),
    Column("rems_enrollment_id", "REMS patient id"),
    Column("dose_mg", "Dose (mg)"),
    Column("dose", "Dose", "56, 84 or other"),
    Column("lot_numbers", "Lots"),
    Column("first_device_at", "First device"),
    Column("monitoring_ended_at", "Monitoring ended"),
    Column("total_minutes", "Total minutes", "first device to the end of monitoring"),
    Column("bp_pre_dose", "BP pre-dose"),
    Column("bp_post_dose", "BP about 40 minutes after"),
    Column("bp_pre_discharge", "BP pre-discharge"),
    Column("sedation", "Sedation"),
    Column("dissociation", "Dissociation"),
    Column("respiratory_depression", "Respiratory depression"),
    Column("serious_adverse_events", "Serious adverse events"),
    Column("missing", "Missing", "what the form still lacks"),
    Column("due_on", "Form due", "7 days after discharge"),
    Column("submitted_on", "Form submitted"),
    Column("submission_reference", "Submission reference"),
    Column("submission", "Submission", "submitted, late, due, overdue or not yet due"),
]


UNSUBMITTED = frozenset({"due", "overdue"})


async def forms_to_submit(db: AsyncSession, scope: Scope, today: date, *, since: date) -> list[Row]:
    """The Patient Monitoring Forms of the esketamine sessions scheduled since ``since`` still
    to be sent to the REMS: due (within seven days of the session) or overdue."""
    start, end = scope.day_bounds(since, today)
    found: list[Row] = []
    async for chunk in rows(db, statement(scope, start, end), scope, today):
        found += [row for row in chunk if row["submission"] in UNSUBMITTED]
    return found
