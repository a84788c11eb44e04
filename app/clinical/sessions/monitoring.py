"""The Spravato REMS Patient Monitoring Form of an esketamine session: its data, made from
what the session recorded, and when it is due (docs/domain.md#patient-monitoring-form)."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from pydantic import Field

from app.clinical.schemas import ESKETAMINE_DOSES_MG
from app.clinical.sessions import rules
from app.clinical.sessions.models import SessionAdministration, TreatmentSession
from app.clinical.sessions.types import SessionStatus
from app.core.schemas import OutputModel, Quantity
from app.registry.models import Registrant
from app.registry.service import local_date

MONITORING_FORM_DUE_DAYS = 7
"""The REMS Patient Monitoring Form is submitted within 7 days of the session
(docs/domain.md#patient-monitoring-form)."""


class BloodPressureOut(OutputModel):
    systolic_mmhg: int
    diastolic_mmhg: int
    measured_at: datetime


class MonitoringFormOut(OutputModel):
    """The Spravato REMS Patient Monitoring Form's data, due within 7 days of the session."""

    dose_mg: Quantity
    dose: str = Field(description="56, 84 or other")
    lot_numbers: list[str]
    first_device_at: datetime | None
    monitoring_ended_at: datetime | None
    total_minutes: int | None
    bp_pre_dose: BloodPressureOut | None
    bp_post_dose: BloodPressureOut | None
    bp_pre_discharge: BloodPressureOut | None
    sedation: bool | None
    dissociation: bool | None
    respiratory_depression: bool | None
    serious_adverse_events: list[str] | None
    missing: list[str]
    due_on: date | None
    submitted_on: date | None
    submission_reference: str | None


def monitoring_form(
    ts: TreatmentSession,
    registrant: Registrant,
    administrations: Sequence[SessionAdministration],
    vitals: Sequence[rules.Reading],
    lots: dict[uuid.UUID, str],
) -> MonitoringFormOut:
    """The Spravato REMS Patient Monitoring Form of an esketamine session, from what was
    given (not reversed), its vitals and the numbers of its lots."""
    readings = rules.monitoring_readings(list(vitals), ts.first_dose_at, ts.ended_at)
    dose_mg = sum((a.mg for a in administrations), Decimal(0))
    observations = ts.observations or {}
    missing = readings.missing + [
        name for name in ("clinical_stability", "observations") if getattr(ts, name) is None
    ]
    return MonitoringFormOut(
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


def _pressure(chosen: rules.Reading | None) -> BloodPressureOut | None:
    if chosen is None:
        return None
    return BloodPressureOut(
        systolic_mmhg=chosen.pressure.systolic,
        diastolic_mmhg=chosen.pressure.diastolic,
        measured_at=chosen.measured_at,
    )


def _form_due_on(ts: TreatmentSession, registrant: Registrant) -> date | None:
    if ts.status != SessionStatus.discharged or ts.ended_at is None:
        return None
    return local_date(registrant, ts.ended_at) + timedelta(days=MONITORING_FORM_DUE_DAYS)
