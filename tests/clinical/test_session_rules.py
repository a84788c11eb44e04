"""The session rules as pure functions (app/clinical/sessions/rules.py): scheduling, the IV
tolerance and the esketamine dose, pre-dose blood pressure and device spacing, the readings
the Patient Monitoring Form takes, discharge, and the clinic's vitals alerts."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.clinical.schemas import Modality
from app.clinical.sessions import rules
from app.clinical.sessions.rules import (
    AdministrationFacts,
    BloodPressure,
    DischargeFacts,
    MonitoringReadings,
    Reading,
    Rems,
    SchedulingFacts,
    SessionRule,
    VitalsThresholds,
)
from app.core.errors import AppError

IV, ESKETAMINE = Modality.iv_infusion, Modality.esketamine_nasal
FIRST_DOSE = datetime(2026, 3, 2, 10, 10, tzinfo=UTC)
MAX_PREDOSE = BloodPressure(140, 90)
NORMAL = BloodPressure(128, 82)
CLINIC = VitalsThresholds(systolic_above=180, diastolic_above=110, heart_rate_above=120,
                          heart_rate_below=50, spo2_below=92)  # fmt: skip

mg_amounts = st.decimals(min_value="0.001", max_value="5000", places=3)
tolerances = st.decimals(min_value=0, max_value=100, places=2)
pressures = st.builds(BloodPressure, st.integers(40, 300), st.integers(20, 200))
seconds_after_first_dose = st.integers(-3600, 3 * 3600)


def scheduling(setting_certified: bool = True, patient_enrolled: bool = True,
               **changes) -> SchedulingFacts:  # fmt: skip
    """An enrolled patient's esketamine session in a certified setting, on the plan's first
    Monday, the first of its sessions."""
    facts = SchedulingFacts(
        modality=ESKETAMINE, rems=Rems(setting_certified, patient_enrolled),
        day=date(2026, 3, 2), plan_starts_on=date(2026, 3, 1), plan_ends_on=date(2026, 3, 31),
        sessions_that_week=0, sessions_per_week=2, sessions_so_far=0, total_sessions=6,
    )  # fmt: skip
    return replace(facts, **changes)


def administration(**changes) -> AdministrationFacts:
    """The first esketamine device of an 84 mg session, after a normal pre-dose reading."""
    facts = AdministrationFacts(
        modality=ESKETAMINE, rems=Rems(True, True), expected_dose_mg=Decimal(84),
        tolerance_percent=Decimal(10),
        given_before_mg=Decimal(0), mg=Decimal(28), started_at=FIRST_DOSE,
        previous_started_at=None, predose_pressure=NORMAL, max_predose=MAX_PREDOSE,
    )  # fmt: skip
    return replace(facts, **changes)


def infusion(expected: Decimal, tolerance: Decimal, mg: Decimal) -> AdministrationFacts:
    return administration(modality=IV, expected_dose_mg=expected, tolerance_percent=tolerance,
                          mg=mg, predose_pressure=None)  # fmt: skip


def reading(moment: str, seconds: int, systolic: int = 128) -> Reading:
    at = FIRST_DOSE + timedelta(seconds=seconds)
    return Reading(measured_at=at, moment=moment, pressure=BloodPressure(systolic, 80))


def complete_readings() -> MonitoringReadings:
    return MonitoringReadings(pre_dose=reading("pre_dose", -600),
                              post_dose=reading("post_dose", 2400),
                              pre_discharge=reading("pre_discharge", 7000))  # fmt: skip


def discharge(**changes) -> DischargeFacts:
    facts = DischargeFacts(
        modality=ESKETAMINE, first_dose_at=FIRST_DOSE,
        discharged_at=FIRST_DOSE + timedelta(minutes=120), monitoring_minutes=120,
        readings=complete_readings(), stable=True,
    )  # fmt: skip
    return replace(facts, **changes)


# Scheduling


def test_a_session_by_the_plan_breaks_nothing():
    assert rules.scheduling_breaks(scheduling()) == []


@given(certified=st.booleans(), enrolled=st.booleans())
def test_the_rems_concerns_esketamine_only(certified, enrolled):
    broken = rules.scheduling_breaks(
        scheduling(setting_certified=certified, patient_enrolled=enrolled)
    )
    expected = [rule for rule, kept in ((SessionRule.rems_setting_not_certified, certified),
                                        (SessionRule.rems_patient_not_enrolled, enrolled))
                if not kept]  # fmt: skip
    assert broken == expected
    iv = scheduling(modality=IV, setting_certified=certified, patient_enrolled=enrolled)
    assert rules.scheduling_breaks(iv) == []


@given(offset=st.integers(-40, 70))
def test_a_session_falls_within_the_plans_dates_both_inclusive(offset):
    day = date(2026, 3, 1) + timedelta(days=offset)
    broken = rules.scheduling_breaks(scheduling(day=day))
    assert (SessionRule.outside_plan_dates in broken) == (not 0 <= offset <= 30)


@given(
    that_week=st.integers(0, 8), per_week=st.integers(1, 7),
    so_far=st.integers(0, 40), total=st.integers(1, 40),
)  # fmt: skip
def test_a_session_beyond_the_weeks_or_the_plans_sessions_is_exceeded(
    that_week, per_week, so_far, total
):
    facts = scheduling(sessions_that_week=that_week, sessions_per_week=per_week,
                       sessions_so_far=so_far, total_sessions=total)  # fmt: skip
    exceeded = SessionRule.plan_sessions_exceeded in rules.scheduling_breaks(facts)
    assert exceeded == (that_week >= per_week or so_far >= total)


def test_every_scheduling_rule_is_named_in_order():
    facts = scheduling(setting_certified=False, patient_enrolled=False, day=date(2026, 4, 1),
                       sessions_that_week=2)  # fmt: skip
    assert rules.scheduling_breaks(facts) == [
        SessionRule.rems_setting_not_certified, SessionRule.rems_patient_not_enrolled,
        SessionRule.outside_plan_dates, SessionRule.plan_sessions_exceeded,
    ]  # fmt: skip


# The dose


@given(expected=mg_amounts, tolerance=tolerances)
@example(expected=Decimal(35), tolerance=Decimal(10))
def test_an_iv_dose_exactly_at_the_tolerance_is_within_the_plan(expected, tolerance):
    limit = expected * (100 + tolerance) / 100
    assert rules.administration_breaks(infusion(expected, tolerance, limit)) == []
    beyond = limit + Decimal("0.001")
    assert rules.administration_breaks(infusion(expected, tolerance, beyond)) == [
        SessionRule.dose_beyond_plan
    ]


@given(expected=mg_amounts, tolerance=tolerances, mg=mg_amounts, before=mg_amounts)
def test_an_iv_session_is_beyond_the_plan_only_past_the_tolerance(expected, tolerance, mg, before):
    facts = replace(infusion(expected, tolerance, mg), given_before_mg=before)
    beyond = (before + mg) / expected > 1 + tolerance / 100
    assert rules.administration_breaks(facts) == ([SessionRule.dose_beyond_plan] if beyond else [])


def test_35_mg_planned_allows_38_5_mg_but_not_38_501():
    assert rules.administration_breaks(infusion(Decimal(35), Decimal(10), Decimal("38.5"))) == []
    assert rules.administration_breaks(infusion(Decimal(35), Decimal(10), Decimal("38.501"))) == [
        SessionRule.dose_beyond_plan
    ]


@pytest.mark.parametrize(("expected", "devices_before", "beyond"), [
    (84, 0, False), (84, 2, False), (84, 3, True), (56, 1, False), (56, 2, True),
])  # fmt: skip
def test_an_esketamine_device_beyond_the_planned_dose_is_beyond_it_at_all(
    expected, devices_before, beyond
):
    later = FIRST_DOSE + timedelta(minutes=5 * devices_before)
    facts = administration(
        expected_dose_mg=Decimal(expected), given_before_mg=Decimal(28 * devices_before),
        started_at=later, previous_started_at=None if devices_before == 0 else FIRST_DOSE,
        tolerance_percent=Decimal(100),  # no tolerance for esketamine, whatever the setting
    )  # fmt: skip
    assert rules.administration_breaks(facts) == ([SessionRule.dose_beyond_plan] if beyond else [])


# Before and between the devices


@given(pressure=pressures)
@example(pressure=BloodPressure(140, 90))
@example(pressure=BloodPressure(141, 90))
@example(pressure=BloodPressure(140, 91))
def test_the_first_device_needs_a_pre_dose_pressure_at_most_140_90(pressure):
    broken = rules.administration_breaks(administration(predose_pressure=pressure))
    above = pressure.systolic > 140 or pressure.diastolic > 90
    assert broken == ([SessionRule.blood_pressure_above_threshold] if above else [])


def test_the_first_device_without_a_pre_dose_pressure_breaks_the_rule():
    assert rules.administration_breaks(administration(predose_pressure=None)) == [
        SessionRule.predose_blood_pressure_missing
    ]


@given(pressure=st.none() | pressures, seconds=st.integers(-600, 3600))
def test_later_devices_are_judged_by_their_spacing_not_the_pressure(pressure, seconds):
    facts = administration(
        given_before_mg=Decimal(28), previous_started_at=FIRST_DOSE,
        started_at=FIRST_DOSE + timedelta(seconds=seconds), predose_pressure=pressure,
    )  # fmt: skip
    too_close = seconds < 5 * 60
    assert rules.administration_breaks(facts) == (
        [SessionRule.devices_too_close] if too_close else []
    )


@given(pressure=st.none() | pressures, seconds=st.integers(0, 600))
def test_an_infusion_needs_neither_a_pressure_nor_spacing(pressure, seconds):
    facts = replace(
        infusion(Decimal(35), Decimal(10), Decimal(35)), predose_pressure=pressure,
        previous_started_at=FIRST_DOSE, started_at=FIRST_DOSE + timedelta(seconds=seconds),
    )  # fmt: skip
    assert rules.administration_breaks(facts) == []


def test_every_administration_rule_is_named_together():
    facts = administration(given_before_mg=Decimal(84), predose_pressure=None)
    assert rules.administration_breaks(facts) == [
        SessionRule.dose_beyond_plan, SessionRule.predose_blood_pressure_missing,
    ]  # fmt: skip


# The Patient Monitoring Form's readings


@given(offsets=st.lists(seconds_after_first_dose, max_size=8))
@example(offsets=[30 * 60, 50 * 60])  # both 10 minutes from 40: the earlier one
@example(offsets=[30 * 60 - 1, 60 * 60 + 1])  # just outside the window: none
def test_the_post_dose_reading_is_the_one_nearest_40_minutes_within_30_to_60(offsets):
    post = [reading("post_dose", s) for s in offsets]
    noise = [reading("monitoring", 40 * 60), reading("pre_discharge", 41 * 60)]
    chosen = rules.monitoring_readings(noise + post, FIRST_DOSE).post_dose

    window = sorted(s for s in offsets if 30 * 60 <= s <= 60 * 60)
    if not window:
        assert chosen is None
        return
    nearest = min(window, key=lambda s: abs(s - 40 * 60))  # the earliest of equals
    assert chosen == reading("post_dose", nearest)
    assert all(abs(nearest - 2400) <= abs(s - 2400) for s in window)


@given(offsets=st.lists(seconds_after_first_dose, min_size=1, max_size=8))
def test_the_pre_dose_reading_is_the_last_one_up_to_the_first_device(offsets):
    readings = [reading("pre_dose", s, systolic=100 + n) for n, s in enumerate(offsets)]
    chosen = rules.monitoring_readings(readings, FIRST_DOSE).pre_dose
    before = [r for r in readings if r.measured_at <= FIRST_DOSE]
    if not before:
        assert chosen is None
    else:
        assert chosen is not None
        assert chosen.measured_at == max(r.measured_at for r in before)


def test_before_any_device_every_pre_dose_reading_counts_and_no_post_dose_one():
    readings = [reading("pre_dose", 60), reading("pre_dose", 120, systolic=150),
                reading("post_dose", 2400)]  # fmt: skip
    found = rules.monitoring_readings(readings, None)
    assert (found.pre_dose, found.post_dose) == (readings[1], None)
    assert found.missing == ["post_dose", "pre_discharge"]


def test_the_pre_discharge_reading_is_the_last_one():
    readings = [reading("pre_discharge", 7200), reading("pre_discharge", 6000)]
    assert rules.monitoring_readings(readings, FIRST_DOSE).pre_discharge == readings[0]


@given(kept=st.sets(st.sampled_from(["pre_dose", "post_dose", "pre_discharge"])))
def test_missing_names_the_absent_readings_in_the_forms_order(kept):
    full = complete_readings()
    found = MonitoringReadings(
        **{
            name: getattr(full, name) if name in kept else None
            for name in ("pre_dose", "post_dose", "pre_discharge")
        }
    )
    assert found.missing == [name for name in ("pre_dose", "post_dose", "pre_discharge")
                             if name not in kept]  # fmt: skip


# Discharge


@given(minutes=st.integers(0, 240), monitoring=st.integers(0, 180))
@example(minutes=120, monitoring=120)
@example(minutes=119, monitoring=120)
def test_an_esketamine_discharge_comes_the_monitoring_time_after_the_first_device(
    minutes, monitoring
):
    facts = discharge(discharged_at=FIRST_DOSE + timedelta(minutes=minutes),
                      monitoring_minutes=monitoring)  # fmt: skip
    too_short = minutes < monitoring
    assert rules.discharge_breaks(facts) == ([SessionRule.monitoring_too_short] if too_short
                                             else [])  # fmt: skip


def test_an_esketamine_discharge_needs_the_three_readings():
    readings = replace(complete_readings(), post_dose=None)
    assert rules.discharge_breaks(discharge(readings=readings)) == [
        SessionRule.monitoring_form_incomplete
    ]


def test_an_iv_discharge_needs_neither_the_monitoring_time_nor_the_readings():
    facts = discharge(modality=IV, discharged_at=FIRST_DOSE, readings=MonitoringReadings(
        None, None, None))  # fmt: skip
    assert rules.discharge_breaks(facts) == []
    assert rules.discharge_breaks(replace(facts, stable=False)) == [SessionRule.patient_not_stable]


def test_a_discharge_before_any_device_has_no_monitoring_to_judge():
    facts = discharge(first_dose_at=None, readings=MonitoringReadings(None, None, None))
    assert rules.discharge_breaks(facts) == []


def test_every_discharge_rule_is_named_together():
    facts = discharge(stable=False, discharged_at=FIRST_DOSE,
                      readings=MonitoringReadings(None, None, None))  # fmt: skip
    assert rules.discharge_breaks(facts) == [
        SessionRule.patient_not_stable, SessionRule.monitoring_too_short,
        SessionRule.monitoring_form_incomplete,
    ]  # fmt: skip


# Vitals


def test_spo2_89_and_a_heart_rate_of_130_raise_two_alerts():
    assert rules.vitals_alerts(NORMAL, 130, 89, CLINIC) == ["heart_rate_high", "spo2_low"]


def test_a_reading_at_every_threshold_raises_none():
    assert rules.vitals_alerts(BloodPressure(180, 110), 120, 92, CLINIC) == []
    assert rules.vitals_alerts(BloodPressure(180, 110), 50, None, CLINIC) == []


@given(pressure=pressures, heart_rate=st.integers(20, 250),
       spo2=st.none() | st.integers(50, 100))  # fmt: skip
def test_each_alert_names_one_threshold_crossed(pressure, heart_rate, spo2):
    alerts = rules.vitals_alerts(pressure, heart_rate, spo2, CLINIC)
    expected = {
        "systolic_high": pressure.systolic > 180,
        "diastolic_high": pressure.diastolic > 110,
        "heart_rate_high": heart_rate > 120,
        "heart_rate_low": heart_rate < 50,
        "spo2_low": spo2 is not None and spo2 < 92,
    }
    assert alerts == [name for name, raised in expected.items() if raised]


# Problems


@pytest.mark.parametrize("rule", list(SessionRule))
def test_each_rule_has_its_own_problem_type(rule):
    problem = rules.BOOK.problems[rule]
    assert issubclass(problem, rules.SessionRuleBroken)
    assert (problem.slug, problem.status) == (rule.value.replace("_", "-"), 422)


def test_only_the_rems_rules_are_never_overridden():
    never = {SessionRule.rems_setting_not_certified, SessionRule.rems_patient_not_enrolled}
    assert never == rules.NEVER_OVERRIDDEN
    broken = [SessionRule.outside_plan_dates, SessionRule.rems_patient_not_enrolled]
    with pytest.raises(AppError) as refused:
        rules.BOOK.refuse_unless_overridden(broken, "a good reason")
    assert refused.value.slug == "rems-patient-not-enrolled"
    rules.BOOK.refuse_unless_overridden(broken[:1], "a good reason")


@given(st.booleans(), st.booleans())
def test_each_esketamine_device_is_judged_against_the_rems_at_its_own_time(certified, enrolled):
    broken = rules.administration_breaks(administration(rems=Rems(certified, enrolled)))
    checks = ((SessionRule.rems_setting_not_certified, certified),
              (SessionRule.rems_patient_not_enrolled, enrolled))  # fmt: skip
    assert broken == [rule for rule, ok in checks if not ok]
    iv = administration(modality=IV, rems=Rems(certified, enrolled), predose_pressure=None)
    assert rules.administration_breaks(iv) == []


def test_the_pre_discharge_reading_lies_between_the_first_device_and_the_discharge():
    discharge_at = FIRST_DOSE + timedelta(hours=2)
    early = reading("pre_discharge", -300)
    late = reading("pre_discharge", 3 * 3600)
    proper = reading("pre_discharge", 7000)
    found = rules.monitoring_readings([early, proper, late], FIRST_DOSE, discharge_at)
    assert found.pre_discharge == proper
    assert rules.monitoring_readings([early, late], FIRST_DOSE, discharge_at).missing == [
        "pre_dose", "post_dose", "pre_discharge",
    ]  # fmt: skip
