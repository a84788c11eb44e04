"""Rules a session's steps can break, and what its readings say (pure functions over facts).

A clinician's step is an instruction (docs/adr/0007-instructions-and-records.md): a broken rule
refuses it with the rule's own problem type unless a prescriber sends ``override_reason``. The
Spravato REMS certification of the setting and the patient's enrollment are the law, never
overridden. An integration's step, or one entered late, is a record: stored with what it broke.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from app.clinical.schemas import Modality
from app.core.errors import AppError
from app.core.overrides import RuleBook

MINUTES_BETWEEN_DEVICES = 5
POST_DOSE_READING_MINUTES = (30, 60)
"""The blood pressure "about 40 minutes" after the first device: a reading in this window."""


class SessionRule(StrEnum):
    rems_setting_not_certified = "rems_setting_not_certified"
    rems_patient_not_enrolled = "rems_patient_not_enrolled"
    outside_plan_dates = "outside_plan_dates"
    plan_sessions_exceeded = "plan_sessions_exceeded"
    patient_sessions_overlap = "patient_sessions_overlap"
    dose_beyond_plan = "dose_beyond_plan"
    predose_blood_pressure_missing = "predose_blood_pressure_missing"
    blood_pressure_above_threshold = "blood_pressure_above_threshold"
    devices_too_close = "devices_too_close"
    monitoring_too_short = "monitoring_too_short"
    monitoring_form_incomplete = "monitoring_form_incomplete"
    patient_not_stable = "patient_not_stable"


NEVER_OVERRIDDEN = frozenset(
    {SessionRule.rems_setting_not_certified, SessionRule.rems_patient_not_enrolled}
)


# Scheduling


@dataclass(frozen=True, slots=True)
class Rems:
    """Where the Spravato REMS stands at a step's time: judged again at each esketamine
    administration, so a session scheduled (or entered) earlier does not carry it past."""

    setting_certified: bool
    patient_enrolled: bool


def _rems_breaks(modality: Modality, rems: Rems) -> list[SessionRule]:
    if modality is not Modality.esketamine_nasal:
        return []
    broken = []
    if not rems.setting_certified:
        broken.append(SessionRule.rems_setting_not_certified)
    if not rems.patient_enrolled:
        broken.append(SessionRule.rems_patient_not_enrolled)
    return broken


@dataclass(frozen=True, slots=True)
class SchedulingFacts:
    modality: Modality
    rems: Rems
    day: date
    plan_starts_on: date
    plan_ends_on: date
    sessions_that_week: int
    """The plan's sessions (not aborted) already in the new one's week."""
    sessions_per_week: int
    sessions_so_far: int
    total_sessions: int
    overlapping: tuple["Span", ...] = ()
    """The patient's other sessions (not aborted) whose time overlaps the new one's."""


@dataclass(frozen=True, slots=True)
class Span:
    """When a session takes the patient's time: from its start (or scheduled time) to its
    end, or, not ended yet, for as long as a session is expected to last."""

    start: datetime
    end: datetime

    def overlaps(self, other: "Span") -> bool:
        return self.start < other.end and other.start < self.end


def scheduling_breaks(f: SchedulingFacts) -> list[SessionRule]:
    broken = _rems_breaks(f.modality, f.rems)
    if not f.plan_starts_on <= f.day <= f.plan_ends_on:
        broken.append(SessionRule.outside_plan_dates)
    if f.sessions_that_week >= f.sessions_per_week or f.sessions_so_far >= f.total_sessions:
        broken.append(SessionRule.plan_sessions_exceeded)
    if f.overlapping:
        broken.append(SessionRule.patient_sessions_overlap)
    return broken


def scheduling_explained(f: SchedulingFacts, zone: ZoneInfo) -> dict[SessionRule, str]:
    """What a person reads of each scheduling rule broken: the numbers, on the registrant's
    clock."""
    monday = f.day - timedelta(days=f.day.weekday())
    week = f"the week of {monday:%a %d %b %Y} to {monday + timedelta(days=6):%a %d %b %Y}"
    if f.sessions_that_week >= f.sessions_per_week:
        exceeded = (f"{f.sessions_that_week} of the plan's {f.sessions_per_week} sessions a "
                    f"week are held or scheduled in {week} ({zone.key})")  # fmt: skip
    else:
        exceeded = (f"all {f.total_sessions} of the plan's sessions are held or scheduled "
                    f"({f.sessions_so_far} so far)")  # fmt: skip
    spans = ", ".join(f"{s.start.astimezone(zone):%d %b %H:%M} to "
                      f"{s.end.astimezone(zone):%H:%M %Z}" for s in f.overlapping)  # fmt: skip
    return {
        SessionRule.plan_sessions_exceeded: exceeded,
        SessionRule.outside_plan_dates: (
            f"{f.day:%d %b %Y} is outside the plan's {f.plan_starts_on:%d %b %Y} to "
            f"{f.plan_ends_on:%d %b %Y}"
        ),
        SessionRule.patient_sessions_overlap: f"the patient is in another session {spans}",
    }


# Administration


@dataclass(frozen=True, slots=True)
class BloodPressure:
    systolic: int
    diastolic: int


@dataclass(frozen=True, slots=True)
class AdministrationFacts:
    modality: Modality
    rems: Rems
    expected_dose_mg: Decimal
    tolerance_percent: Decimal
    given_before_mg: Decimal
    mg: Decimal
    started_at: datetime
    previous_started_at: datetime | None
    """When the session's previous administration started (none for the first)."""
    predose_pressure: BloodPressure | None
    max_predose: BloodPressure


def administration_breaks(f: AdministrationFacts) -> list[SessionRule]:
    broken = _rems_breaks(f.modality, f.rems)
    if _beyond_plan(f):
        broken.append(SessionRule.dose_beyond_plan)
    if f.modality is Modality.esketamine_nasal:
        if f.previous_started_at is None:
            broken.extend(_predose_pressure_breaks(f.predose_pressure, f.max_predose))
        elif f.started_at - f.previous_started_at < timedelta(minutes=MINUTES_BETWEEN_DEVICES):
            broken.append(SessionRule.devices_too_close)
    return broken


def _beyond_plan(f: AdministrationFacts) -> bool:
    """The session's total beyond the planned dose: for IV by more than the tolerance (the
    dose follows a weight), for esketamine at all (whole devices of a fixed dose)."""
    total = f.given_before_mg + f.mg
    if f.modality is Modality.iv_infusion:
        return total * 100 > f.expected_dose_mg * (100 + f.tolerance_percent)
    return total > f.expected_dose_mg


def _predose_pressure_breaks(
    pressure: BloodPressure | None, maximum: BloodPressure
) -> list[SessionRule]:
    if pressure is None:
        return [SessionRule.predose_blood_pressure_missing]
    if pressure.systolic > maximum.systolic or pressure.diastolic > maximum.diastolic:
        return [SessionRule.blood_pressure_above_threshold]
    return []


# Readings and discharge


@dataclass(frozen=True, slots=True)
class Reading:
    measured_at: datetime
    moment: str
    pressure: BloodPressure


@dataclass(frozen=True, slots=True)
class MonitoringReadings:
    """The three blood pressures the Patient Monitoring Form asks for."""

    pre_dose: Reading | None
    post_dose: Reading | None
    pre_discharge: Reading | None

    @property
    def missing(self) -> list[str]:
        return [name for name in ("pre_dose", "post_dose", "pre_discharge")
                if getattr(self, name) is None]  # fmt: skip


def monitoring_readings(
    readings: Sequence[Reading], first_dose_at: datetime | None, until: datetime | None = None
) -> MonitoringReadings:
    """The last pre-dose reading before the first device; the post-dose reading nearest 40
    minutes after it, within the window; the last pre-discharge reading after the first
    device and no later than ``until`` (the discharge)."""

    def of(moment: str) -> list[Reading]:
        return sorted((r for r in readings if r.moment == moment), key=lambda r: r.measured_at)

    before = [r for r in of("pre_dose") if first_dose_at is None or r.measured_at <= first_dose_at]
    post_dose = None
    if first_dose_at is not None:
        low, high = (first_dose_at + timedelta(minutes=m) for m in POST_DOSE_READING_MINUTES)
        in_window = [r for r in of("post_dose") if low <= r.measured_at <= high]
        target = first_dose_at + timedelta(minutes=40)
        post_dose = min(in_window, key=lambda r: abs(r.measured_at - target), default=None)
    pre_discharge = [
        r for r in of("pre_discharge")
        if (first_dose_at is None or r.measured_at >= first_dose_at)
        and (until is None or r.measured_at <= until)
    ]  # fmt: skip
    return MonitoringReadings(
        pre_dose=before[-1] if before else None,
        post_dose=post_dose,
        pre_discharge=pre_discharge[-1] if pre_discharge else None,
    )


@dataclass(frozen=True, slots=True)
class DischargeFacts:
    modality: Modality
    first_dose_at: datetime | None
    discharged_at: datetime
    monitoring_minutes: int
    readings: MonitoringReadings
    stable: bool


def discharge_breaks(f: DischargeFacts) -> list[SessionRule]:
    broken = []
    if not f.stable:
        broken.append(SessionRule.patient_not_stable)
    if f.modality is Modality.esketamine_nasal and f.first_dose_at is not None:
        if f.discharged_at - f.first_dose_at < timedelta(minutes=f.monitoring_minutes):
            broken.append(SessionRule.monitoring_too_short)
        if f.readings.missing:
            broken.append(SessionRule.monitoring_form_incomplete)
    return broken


# Vitals


@dataclass(frozen=True, slots=True)
class VitalsThresholds:
    systolic_above: int
    diastolic_above: int
    heart_rate_above: int
    heart_rate_below: int
    spo2_below: int


def vitals_alerts(
    pressure: BloodPressure, heart_rate: int, spo2: int | None, limits: VitalsThresholds
) -> list[str]:
    """What a reading says beyond the clinic's thresholds; a reading is kept whatever it says."""
    checks = {
        "systolic_high": pressure.systolic > limits.systolic_above,
        "diastolic_high": pressure.diastolic > limits.diastolic_above,
        "heart_rate_high": heart_rate > limits.heart_rate_above,
        "heart_rate_low": heart_rate < limits.heart_rate_below,
        "spo2_low": spo2 is not None and spo2 < limits.spo2_below,
    }
    return [alert for alert, raised in checks.items() if raised]


# Problems


class SessionRuleBroken(AppError):
    """Base of the per-rule problems; never raised itself."""

    slug = "session-rule-broken"
    status = 422
    title = "Session rule broken"
    description = "The step breaks a clinical rule; a prescriber may send override_reason."


_DESCRIBED: dict[SessionRule, tuple[str, str]] = {
    SessionRule.rems_setting_not_certified: ("Setting not REMS-certified",
        "Esketamine is administered only in a Spravato REMS-certified setting; never overridden."),
    SessionRule.rems_patient_not_enrolled: ("Patient not enrolled in the REMS",
        "The patient needs a Spravato REMS enrollment id first; never overridden."),
    SessionRule.outside_plan_dates: ("Outside the plan's dates",
        "The session's day is before the plan starts or after it ends."),
    SessionRule.plan_sessions_exceeded: ("More sessions than planned",
        "The plan's sessions for that week, or in total, have all been held or scheduled."),
    SessionRule.patient_sessions_overlap: ("The patient's sessions overlap",
        "The patient is in another session at that time (one not ended is taken to last "
        "session_expected_minutes from its start)."),
    SessionRule.dose_beyond_plan: ("Dose beyond the plan",
        "The session's total dose would exceed the planned dose (IV: beyond the tolerance)."),
    SessionRule.predose_blood_pressure_missing: ("No blood pressure before dosing",
        "Record a pre_dose vitals reading before the first esketamine device."),
    SessionRule.blood_pressure_above_threshold: ("Blood pressure above the threshold",
        "The pre-dose blood pressure is above the clinic's threshold: a prescriber decides."),
    SessionRule.devices_too_close: ("Devices too close together",
        "Esketamine devices are given at least 5 minutes apart."),
    SessionRule.monitoring_too_short: ("Monitoring too short",
        "Discharge comes at least the configured time (2 hours) after the first device."),
    SessionRule.monitoring_form_incomplete: ("Patient Monitoring Form incomplete",
        "Blood pressure before dosing, about 40 minutes after the first device and before "
        "discharge are all needed."),
    SessionRule.patient_not_stable: ("Patient not clinically stable",
        "The clinical-stability assessment says the patient is not stable for discharge."),
}  # fmt: skip
"""Each rule's problem: its title and description."""

BOOK = RuleBook.of(SessionRuleBroken, _DESCRIBED, never=NEVER_OVERRIDDEN)
