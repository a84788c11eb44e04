"""The reconciliation rules as pure functions over facts: each with facts that break it, facts
that do not, and the boundaries in between (Hypothesis where a property says more than an
example)."""

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.catalog.names import LocationName, LotName, Names, PatientName, ProductName, StaffName
from app.catalog.substances import InventoryUnit
from app.core import config
from app.reconciliation import rules
from app.reconciliation.facts import (
    Adjustment,
    Count,
    ExpiredStock,
    Facts,
    MonitoringForm,
    OpenReport,
    SessionEnd,
    Waste,
)
from app.reconciliation.findings import Found, Subject
from app.reconciliation.peers import PeerMeasure, PeerStat, like_work
from app.reconciliation.runs import rule_settings
from app.reconciliation.words import Words
from app.reconciliation.workflow import Severity
from app.registry.enums import LocationKind, StaffRole

SETTINGS = rule_settings(config.Settings(environment=config.Environment.test))
"""The defaults of app.core.config."""
TODAY = date(2026, 3, 2)
NOON = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
VAULT, ROOM = uuid.UUID(int=1), uuid.UUID(int=2)
KETAMINE, ESKETAMINE = uuid.UUID(int=11), uuid.UUID(int=12)
LOT = uuid.UUID(int=21)
NURSE, WITNESS = str(uuid.UUID(int=31)), str(uuid.UUID(int=32))
PATIENT, SESSION = uuid.UUID(int=41), uuid.UUID(int=51)
RANK = {Severity.info: 0, Severity.minor: 1, Severity.significant: 2, Severity.critical: 3}

quantities = st.decimals(min_value=0, max_value=10_000, places=3)
positive = st.decimals(min_value=Decimal("0.001"), max_value=10_000, places=3)


def _product(product_id: uuid.UUID, name: str, strength: str, form: str) -> ProductName:
    return ProductName(id=product_id, name=name, code="0000000000", strength=strength,
                       dosage_form=form, unit=InventoryUnit.mL)  # fmt: skip


def _staff(staff_id: str, name: str) -> StaffName:
    return StaffName(id=uuid.UUID(staff_id), name=name, role=StaffRole.nurse, state_license=None)


NAMES = Names(
    locations={VAULT: LocationName(id=VAULT, name="Vault", kind=LocationKind.vault),
               ROOM: LocationName(id=ROOM, name="Room 2", kind=LocationKind.procedure_room)},
    lots={LOT: LotName(id=LOT, lot_number="KA2611", expires_on=date(2027, 1, 31))},
    products={KETAMINE: _product(KETAMINE, "Ketamine HCl", "50 mg/mL", "injection"),
              ESKETAMINE: _product(ESKETAMINE, "Spravato", "28 mg", "nasal_spray")},
    staff={uuid.UUID(NURSE): _staff(NURSE, "Dana Reyes"),
           uuid.UUID(WITNESS): _staff(WITNESS, "Sam Ortiz")},
    patients={PATIENT: PatientName(id=PATIENT, external_id="MRN-1", name=None)},
    units={KETAMINE: "mL", ESKETAMINE: "device"},
)  # fmt: skip
WORDS = Words(zone=ZoneInfo("America/Chicago"), names=NAMES)
"""The names the run loads, on a Chicago clock: noon UTC+6 is 12:00 CST."""


def facts(**given: object) -> Facts:
    """Facts of a registrant whose inventory is up to date, with ``given`` added."""
    base = Facts(today=TODAY, first_activity_on=date(2026, 1, 5),
                 last_full_inventory_on=date(2026, 1, 5), words=WORDS)  # fmt: skip
    return replace(base, **given)  # type: ignore[arg-type]


def count(
    counted: Decimal | int | str,
    expected: Decimal | int | str = 50,
    usage: Decimal | int | str = 100,
    *,
    at: datetime = NOON,
    location: uuid.UUID = VAULT,
    product: uuid.UUID = KETAMINE,
    in_period: bool = True,
    counted_by: str | None = NURSE,
) -> Count:
    return Count(
        event_id=uuid.uuid4(), location_id=location, product_id=product, lot_id=LOT,
        occurred_at=at, counted=Decimal(counted), expected=Decimal(expected),
        usage=Decimal(usage), in_period=in_period, counted_by=counted_by,
    )  # fmt: skip


def variances(*counts: Count) -> list[Found]:
    return rules.count_variance(facts(counts=counts), SETTINGS)


# count_variance


@given(quantities, quantities, st.integers(min_value=0, max_value=5))
def test_an_exact_count_is_never_flagged(quantity, usage, earlier_shortfalls):
    earlier = [count(Decimal(0), Decimal(1), at=NOON - timedelta(days=n + 1), in_period=False)
               for n in range(earlier_shortfalls)]  # fmt: skip
    assert variances(*earlier, count(quantity, quantity, usage)) == []


def test_a_short_count_is_found_with_what_was_counted_and_expected():
    short = count("49", "50", "100")
    [found] = variances(short)
    assert found.finding.rule == "count_variance"
    assert (found.finding.severity, found.finding.reportable, found.finding.discovered_at) == (
        Severity.minor, False, None,
    )  # fmt: skip
    assert found.finding.fingerprint == f"count_variance:event:{short.event_id}"
    assert found.finding.summary == (
        "Count of lot KA2611 at Vault short by 1 mL (expected 50 mL, counted 49 mL) on "
        "2026-03-02 12:00 CST"
    )
    assert found.finding.details == {"counted": "49", "expected": "50", "usage_30_days": "100",
                                     "shortfalls_in_window": 1}  # fmt: skip
    assert (found.event_ids, found.staff_ids) == ((short.event_id,), (NURSE,))
    assert found.subject == Subject(location_id=VAULT, lot_id=LOT, product_id=KETAMINE)


def test_quantities_read_from_the_database_are_shown_as_the_api_shows_them():
    """Stored quantities come back in thousandths ("246.000"): findings say "246"."""
    [found] = variances(count(Decimal("245.900"), Decimal("246.000"), Decimal("4.000")))
    assert found.finding.summary == (
        "Count of lot KA2611 at Vault short by 0.1 mL (expected 246 mL, counted 245.9 mL) on "
        "2026-03-02 12:00 CST"
    )
    assert found.finding.details == {"counted": "245.9", "expected": "246", "usage_30_days": "4",
                                     "shortfalls_in_window": 1}  # fmt: skip
    stock = ExpiredStock(VAULT, LOT, KETAMINE, "L-OLD", date(2026, 3, 1), Decimal("5.000"))
    [expired] = rules.expired_stock_on_hand(facts(expired_stock=[stock]), SETTINGS)
    assert expired.finding.summary == (
        "5 mL of lot L-OLD (Ketamine HCl) at Vault, expired 2026-03-01, still on hand"
    )


def test_a_shortfall_of_the_significant_percent_of_the_usage_is_significant_and_reportable():
    at_threshold = count("45", "50", "100")  # 5 short: 5 % of the 100 used
    just_below = count("45.001", "50", "100")
    [significant] = variances(at_threshold)
    [minor] = variances(just_below)
    assert (significant.finding.severity, significant.finding.reportable) == (
        Severity.significant, True,
    )  # fmt: skip
    assert significant.finding.discovered_at == NOON
    assert (minor.finding.severity, minor.finding.reportable, minor.finding.discovered_at) == (
        Severity.minor, False, None,
    )  # fmt: skip


def test_a_shortfall_where_nothing_was_used_is_significant():
    [found] = variances(count("49.999", "50", "0"))
    assert (found.finding.severity, found.finding.reportable) == (Severity.significant, True)


@given(positive, st.decimals(min_value=0, max_value=1000, places=3))
def test_an_overage_is_minor_and_never_reportable(excess, usage):
    [found] = variances(count(Decimal(50) + excess, Decimal(50), usage))
    assert (found.finding.severity, found.finding.reportable) == (Severity.minor, False)
    assert found.finding.summary.startswith("Count of lot KA2611 at Vault over by ")
    assert (
        Decimal(found.finding.details["counted"]) - Decimal(found.finding.details["expected"])
        == excess
    )


@given(positive, positive, quantities)
def test_the_severity_never_falls_as_the_shortfall_grows(first, second, usage):
    smaller, larger = sorted((first, second))
    expected = Decimal(20_000)
    [less] = variances(count(expected - smaller, expected, usage))
    [more] = variances(count(expected - larger, expected, usage))
    assert RANK[less.finding.severity] <= RANK[more.finding.severity]
    large = larger * 100 >= SETTINGS.significant_percent * usage
    assert more.finding.severity is (Severity.significant if large else Severity.minor)


def test_counts_before_the_period_feed_the_pattern_but_are_not_found_themselves():
    before = count("49", at=NOON - timedelta(days=3), in_period=False)
    assert variances(before) == []


other_counts = st.lists(
    st.tuples(
        st.sampled_from([VAULT, ROOM]),
        st.sampled_from([KETAMINE, ESKETAMINE]),
        st.integers(min_value=-40 * 24, max_value=-1),  # hours before the count judged
        st.booleans(),  # short, or exact
    ),
    max_size=8,
)


@given(other_counts)
def test_the_pattern_counts_shortfalls_of_the_location_and_product_within_the_window(others):
    earlier = [
        count("49" if short else "50", at=NOON + timedelta(hours=hours), location=location,
              product=product, in_period=False)
        for location, product, hours, short in others
    ]  # fmt: skip
    judged = count("49.9", "50", "100")  # alone: 0.1 % of the usage, minor
    [found] = variances(*earlier, judged)
    within = sum(
        1 for location, product, hours, short in others
        if short and (location, product) == (VAULT, KETAMINE) and hours > -30 * 24
    )  # fmt: skip
    assert found.finding.details["shortfalls_in_window"] == within + 1
    escalated = within + 1 >= SETTINGS.pattern_shortfalls
    assert found.finding.severity is (Severity.significant if escalated else Severity.minor)
    assert found.finding.reportable is escalated


def test_the_third_small_shortfall_in_thirty_days_escalates_and_the_window_is_open_at_its_start():
    def at(days: float) -> datetime:
        return NOON - timedelta(days=days)

    third = count("49.9", "50", "100")
    edge = [count("49", at=at(30), in_period=False), count("49", at=at(10), in_period=False)]
    inside = [count("49", at=at(29.99), in_period=False), count("49", at=at(10), in_period=False)]
    [outside_window] = variances(*edge, third)
    [within_window] = variances(*inside, third)
    assert (outside_window.finding.severity, outside_window.finding.details["shortfalls_in_window"]
            ) == (Severity.minor, 2)  # fmt: skip
    assert (within_window.finding.severity, within_window.finding.details["shortfalls_in_window"]
            ) == (Severity.significant, 3)  # fmt: skip
    assert within_window.finding.summary == (
        "Count of lot KA2611 at Vault short by 0.1 mL (expected 50 mL, counted 49.9 mL) on "
        "2026-03-02 12:00 CST, the 3rd short count of Ketamine HCl there within 30 days"
    )
    assert outside_window.finding.summary.endswith("on 2026-03-02 12:00 CST")


def test_later_shortfalls_do_not_escalate_an_earlier_count():
    first = count("49.9", "50", "100", at=NOON - timedelta(days=2))
    later = [count("49", at=NOON - timedelta(days=1)), count("49", at=NOON)]
    found = {f.event_ids[0]: f for f in variances(first, *later)}
    assert found[first.event_id].finding.severity is Severity.minor
    assert found[first.event_id].finding.details["shortfalls_in_window"] == 1


def test_a_count_nobody_is_named_for_names_no_staff():
    [found] = variances(count("49", counted_by=None))
    assert found.staff_ids == ()


# holding_not_emptied


def ended(
    unresolved: int | str = 0, staff: tuple[str, ...] = (NURSE,), *,
    esketamine_mg: Decimal | None = None, status: str = "discharged",
) -> SessionEnd:  # fmt: skip
    """A session of the patient in Room 2 that ended at noon."""
    return SessionEnd(uuid.uuid4(), Decimal(unresolved), staff, NOON, status, esketamine_mg,
                      patient_id=PATIENT, room_id=ROOM,
                      event_ids=(uuid.UUID(int=81), uuid.UUID(int=82)))  # fmt: skip


def test_a_session_ended_with_stock_in_its_holding_is_found():
    left = ended(15, (NURSE, WITNESS), status="aborted")
    empty = ended(0)
    [found] = rules.holding_not_emptied(facts(session_ends=[left, empty]), SETTINGS)
    assert (found.finding.rule, found.finding.severity) == ("holding_not_emptied",
                                                            Severity.significant)  # fmt: skip
    assert found.finding.fingerprint == f"holding_not_emptied:session:{left.session_id}"
    assert found.finding.summary == (
        "Session of patient MRN-1 in Room 2 aborted on 2026-03-02 12:00 CST with 15 mg left in "
        "its holding, neither given, wasted nor returned"
    )
    assert found.finding.details == {"session_id": str(left.session_id)}
    assert found.staff_ids == (NURSE, WITNESS)
    assert found.subject == Subject(location_id=ROOM, patient_id=PATIENT,
                                    session_id=left.session_id)  # fmt: skip
    assert found.event_ids == left.event_ids


# waste_witnessing


def waste(
    *,
    performed_by: str | None = NURSE,
    witnesses: tuple[str, ...] = (WITNESS,),
    confirmed: tuple[str, ...] = (WITNESS,),
    minutes_after_withdrawal: float = 45,
) -> Waste:
    withdrawn = NOON - timedelta(hours=2)
    return Waste(
        event_id=uuid.uuid4(), session_id=SESSION, room_id=ROOM, quantity=Decimal("0.4"),
        occurred_at=withdrawn + timedelta(minutes=40), performed_by=performed_by,
        witness_ids=witnesses, confirmed_by=confirmed,
        recorded_at=withdrawn + timedelta(minutes=minutes_after_withdrawal),
        first_withdrawal_at=withdrawn, patient_id=PATIENT, lot_id=LOT, product_id=KETAMINE,
    )  # fmt: skip


def waste_rules(*wastes: Waste) -> list[tuple[str, Severity]]:
    found = rules.waste_witnessing(facts(waste=wastes), SETTINGS)
    return [(f.finding.rule, f.finding.severity) for f in found]


def test_waste_confirmed_by_its_witness_in_time_is_clean():
    assert waste_rules(waste()) == []


def test_waste_nobody_confirmed_is_unwitnessed():
    unconfirmed = waste(confirmed=())
    [found] = rules.waste_witnessing(facts(waste=[unconfirmed]), SETTINGS)
    assert (found.finding.rule, found.finding.severity) == ("waste_unwitnessed",
                                                            Severity.significant)  # fmt: skip
    assert found.finding.fingerprint == f"waste_unwitnessed:event:{unconfirmed.event_id}"
    assert found.finding.details == {"session_id": str(unconfirmed.session_id)}
    assert (found.event_ids, found.staff_ids) == ((unconfirmed.event_id,), (NURSE,))
    assert found.subject == Subject(location_id=ROOM, lot_id=LOT, product_id=KETAMINE,
                                    patient_id=PATIENT, session_id=SESSION)  # fmt: skip
    assert found.finding.summary == (
        "Waste of 0.4 mL of lot KA2611 in the session of patient MRN-1 in Room 2 on "
        "2026-03-02 10:40 CST: no witness other than its waster, Dana Reyes, confirmed it"
    )


def test_each_waste_finding_says_what_was_wasted_and_what_went_wrong():
    late_and_by_waster = waste(witnesses=(NURSE,), confirmed=(NURSE,), minutes_after_withdrawal=95)
    found = rules.waste_witnessing(facts(waste=[late_and_by_waster]), SETTINGS)
    said = (
        "Waste of 0.4 mL of lot KA2611 in the session of patient MRN-1 in Room 2 on "
        "2026-03-02 10:40 CST: "
    )
    assert [f.finding.summary for f in found] == [
        said + "its waster, Dana Reyes, is named as its witness",
        said + "no witness other than its waster, Dana Reyes, confirmed it",
        said + "recorded 95 minutes after the session's first withdrawal, past the 60 minutes "
               "allowed",
    ]  # fmt: skip


def test_a_confirmation_by_the_waster_alone_leaves_it_unwitnessed():
    assert waste_rules(waste(witnesses=(NURSE,), confirmed=(NURSE,))) == [
        ("waste_witnessed_by_waster", Severity.significant),
        ("waste_unwitnessed", Severity.significant),
    ]


def test_a_waste_naming_its_waster_among_its_witnesses_is_found_though_another_confirmed():
    assert waste_rules(waste(witnesses=(NURSE, WITNESS), confirmed=(WITNESS,))) == [
        ("waste_witnessed_by_waster", Severity.significant),
    ]


def test_waste_of_nobody_named_is_not_witnessed_by_its_waster():
    unnamed = waste(performed_by=None, witnesses=(WITNESS,), confirmed=())
    assert waste_rules(unnamed) == [("waste_unwitnessed", Severity.significant)]
    [found] = rules.waste_witnessing(facts(waste=[unnamed]), SETTINGS)
    assert found.finding.summary.endswith("10:40 CST: no witness confirmed it")


@given(st.integers(min_value=0, max_value=600))
def test_waste_recorded_later_than_the_window_after_the_withdrawal_is_late(minutes):
    found = waste_rules(waste(minutes_after_withdrawal=minutes))
    assert found == ([("waste_late", Severity.minor)] if minutes > 60 else [])


def test_waste_recorded_a_second_past_the_window_is_late():
    assert waste_rules(waste(minutes_after_withdrawal=60 + 1 / 60)) == [
        ("waste_late", Severity.minor)
    ]


# monitoring_form_overdue


DUE = date(2026, 3, 9)


def form(submitted_on: date | None) -> MonitoringForm:
    """The form of a session in Room 2 discharged at noon on 2 March."""
    return MonitoringForm(uuid.uuid4(), NOON, DUE, submitted_on, (NURSE,), patient_id=PATIENT,
                          room_id=ROOM)  # fmt: skip


def overdue(submitted_on: date | None, today: date) -> list[Found]:
    return rules.monitoring_form_overdue(facts(today=today, monitoring_forms=[form(submitted_on)]),
                                         SETTINGS)  # fmt: skip


@given(st.integers(min_value=-7, max_value=0), st.integers(min_value=0, max_value=400))
def test_a_form_submitted_by_its_due_day_is_never_overdue(submitted, later):
    submitted_on = DUE + timedelta(days=submitted)
    assert overdue(submitted_on, submitted_on + timedelta(days=later)) == []


@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=30))
def test_a_form_submitted_after_its_due_day_stays_overdue(late, later):
    submitted_on = DUE + timedelta(days=late)
    [found] = overdue(submitted_on, submitted_on + timedelta(days=later))
    assert found.finding.summary == (
        "Patient Monitoring Form of the esketamine session of patient MRN-1 in Room 2, "
        f"discharged 2026-03-02 12:00 CST: due 2026-03-09, submitted {submitted_on.isoformat()} "
        f"({late} day{'' if late == 1 else 's'} late)"
    )


@given(st.integers(min_value=-7, max_value=30))
def test_an_unsubmitted_form_is_overdue_only_once_today_is_past_its_due_day(days):
    found = overdue(None, DUE + timedelta(days=days))
    assert len(found) == (1 if days > 0 else 0)


def test_an_overdue_form_is_a_significant_finding_about_the_sessions_staff():
    late = form(None)
    [found] = rules.monitoring_form_overdue(
        facts(today=date(2026, 3, 10), monitoring_forms=[late]), SETTINGS
    )
    assert (found.finding.rule, found.finding.severity) == ("monitoring_form_overdue",
                                                            Severity.significant)  # fmt: skip
    assert found.finding.fingerprint == f"monitoring_form_overdue:session:{late.session_id}"
    assert found.finding.summary == (
        "Patient Monitoring Form of the esketamine session of patient MRN-1 in Room 2, "
        "discharged 2026-03-02 12:00 CST: due 2026-03-09, not submitted (1 day late)"
    )
    assert found.finding.details == {"session_id": str(late.session_id)}
    assert found.staff_ids == (NURSE,)
    assert found.subject == Subject(location_id=ROOM, patient_id=PATIENT,
                                    session_id=late.session_id)  # fmt: skip


# expired_stock_on_hand


def test_each_expired_lot_on_hand_is_a_minor_finding_of_its_location_and_lot():
    stock = [
        ExpiredStock(VAULT, LOT, KETAMINE, "L-OLD", date(2026, 3, 1), Decimal(5)),
        ExpiredStock(ROOM, LOT, KETAMINE, "L-OLD", date(2026, 3, 1), Decimal("0.5")),
    ]
    found = rules.expired_stock_on_hand(facts(expired_stock=stock), SETTINGS)
    assert [(f.finding.rule, f.finding.severity, f.finding.fingerprint, f.finding.summary,
             f.subject.product_id, f.subject.location_id) for f in found] == [
        ("expired_stock_on_hand", Severity.minor, f"expired_stock_on_hand:{VAULT}:{LOT}",
         "5 mL of lot L-OLD (Ketamine HCl) at Vault, expired 2026-03-01, still on hand",
         KETAMINE, VAULT),
        ("expired_stock_on_hand", Severity.minor, f"expired_stock_on_hand:{ROOM}:{LOT}",
         "0.5 mL of lot L-OLD (Ketamine HCl) at Room 2, expired 2026-03-01, still on hand",
         KETAMINE, ROOM),
    ]  # fmt: skip


# inventory_due


def inventory(today: date, first: date | None, last: date | None) -> list[tuple[Severity, str]]:
    found = rules.inventory_due(
        facts(today=today, first_activity_on=first, last_full_inventory_on=last), SETTINGS
    )
    assert all(f.finding.rule == "inventory_due" for f in found)
    return [(f.finding.severity, f.finding.summary) for f in found]


def test_a_registrant_without_activity_owes_no_inventory():
    assert inventory(TODAY, None, None) == []


@given(st.integers(min_value=-400, max_value=400))
def test_the_initial_inventory_is_flagged_within_the_warning_and_significant_once_overdue(days):
    first = date(2026, 3, 2)
    found = inventory(first + timedelta(days=days), first, None)
    since = "(stock first handled 2026-03-02)"
    if days < -30:
        assert found == []
    elif days <= 0:
        assert found == [(Severity.info, f"Initial inventory due 2026-03-02 {since}")]
    else:
        late = f"{days} day{'' if days == 1 else 's'} late"
        assert found == [
            (Severity.significant, f"Initial inventory overdue since 2026-03-02 {since}, {late}")
        ]


not_29_february = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)).filter(
    lambda day: (day.month, day.day) != (2, 29)
)


@given(not_29_february, st.integers(min_value=-400, max_value=400))
def test_the_biennial_inventory_is_due_two_years_after_the_last(last, days):
    due = last.replace(year=last.year + 2)
    found = inventory(due + timedelta(days=days), date(2019, 1, 1), last)
    since = f"(the last full inventory taken {last.isoformat()})"
    if days < -30:
        assert found == []
    elif days <= 0:
        assert found == [(Severity.info, f"Biennial inventory due {due.isoformat()} {since}")]
    else:
        late = f"{days} day{'' if days == 1 else 's'} late"
        assert found == [
            (Severity.significant, f"Biennial inventory overdue since {due} {since}, {late}")
        ]


def test_the_inventory_warning_opens_thirty_days_before_the_due_day():
    last, since = date(2026, 3, 2), "(the last full inventory taken 2026-03-02)"
    assert inventory(date(2028, 1, 31), None, last) == []
    assert inventory(date(2028, 2, 1), None, last) == [
        (Severity.info, f"Biennial inventory due 2028-03-02 {since}")
    ]
    assert inventory(date(2028, 3, 2), None, last) == [
        (Severity.info, f"Biennial inventory due 2028-03-02 {since}")
    ]
    assert inventory(date(2028, 3, 3), None, last) == [
        (Severity.significant, f"Biennial inventory overdue since 2028-03-02 {since}, 1 day late")
    ]


def test_an_inventory_on_29_february_is_due_again_on_28_february():
    assert inventory(date(2030, 3, 1), None, date(2028, 2, 29)) == [
        (Severity.significant, "Biennial inventory overdue since 2030-02-28 (the last full "
                               "inventory taken 2028-02-29), 1 day late")
    ]  # fmt: skip


def test_the_inventory_finding_is_named_by_its_kind_and_due_day():
    [initial] = rules.inventory_due(
        facts(today=TODAY, first_activity_on=TODAY, last_full_inventory_on=None), SETTINGS
    )
    [biennial] = rules.inventory_due(
        facts(today=TODAY, last_full_inventory_on=date(2024, 3, 1)), SETTINGS
    )
    assert initial.finding.fingerprint == "inventory_due:initial:2026-03-02"
    assert biennial.finding.fingerprint == "inventory_due:biennial:2026-03-01"
    assert (initial.event_ids, initial.staff_ids, initial.subject.product_id) == ((), (), None)


# adjustment_pattern


def decrease(
    days_before: float = 0, *, location: uuid.UUID = VAULT, product: uuid.UUID = KETAMINE,
    in_period: bool = True,
) -> Adjustment:  # fmt: skip
    return Adjustment(uuid.uuid4(), location, product, LOT, NOON - timedelta(days=days_before),
                      Decimal("0.5"), NURSE, in_period)  # fmt: skip


def test_the_third_decrease_of_the_book_within_the_window_is_a_significant_loss():
    first, second = decrease(20, in_period=False), decrease(10, in_period=False)
    third = decrease(0)
    [found] = rules.adjustment_pattern(facts(adjustments=[first, second, third]), SETTINGS)
    assert (found.finding.rule, found.finding.severity, found.finding.reportable) == (
        "adjustment_pattern", Severity.significant, True,
    )  # fmt: skip
    assert found.finding.discovered_at == third.occurred_at
    assert found.event_ids == (first.event_id, second.event_id, third.event_id)
    assert (found.staff_ids, found.subject.location_id) == ((NURSE,), VAULT)
    assert found.finding.fingerprint == f"adjustment_pattern:event:{third.event_id}"
    assert found.subject == Subject(location_id=VAULT, lot_id=LOT, product_id=KETAMINE)
    assert found.finding.summary == (
        "Adjustment of lot KA2611 at Vault down by 0.5 mL on 2026-03-02 12:00 CST, the 3rd "
        "decrease of Ketamine HCl there within 30 days"
    )


def test_decreases_apart_in_time_place_or_product_make_no_pattern():
    spread = [decrease(31, in_period=False), decrease(15, in_period=False), decrease(0)]
    elsewhere = [decrease(10, location=ROOM), decrease(5, product=ESKETAMINE), decrease(0)]
    for adjustments in (spread, elsewhere, [decrease(1), decrease(0)]):
        assert rules.adjustment_pattern(facts(adjustments=adjustments), SETTINGS) == []


@given(st.lists(st.integers(min_value=0, max_value=90), max_size=12))
def test_a_decrease_is_found_exactly_when_its_window_holds_the_pattern(days_before):
    adjustments = [decrease(d) for d in days_before]
    flagged = {
        f.finding.fingerprint
        for f in rules.adjustment_pattern(facts(adjustments=adjustments), SETTINGS)
    }
    for a in adjustments:
        window = [
            b
            for b in adjustments
            if a.occurred_at - SETTINGS.pattern_window < b.occurred_at <= a.occurred_at
        ]
        assert (len(window) >= 3) == (f"adjustment_pattern:event:{a.event_id}" in flagged)


# Every rule at once


def test_evaluate_runs_every_rule_and_clean_facts_raise_nothing():
    assert set(rules.RULES) == {
        "count_variance", "adjustment_pattern", "holding_not_emptied", "esketamine_dose_unusual",
        "waste_witnessing", "monitoring_form_overdue", "expired_stock_on_hand", "inventory_due",
        "peer_outliers", "dea_report_overdue", "invoice_matching",
    }  # fmt: skip
    clean = facts(
        counts=[count("50", "50")],
        session_ends=[ended(0)],
        waste=[waste()],
        monitoring_forms=[form(DUE)],
    )
    assert rules.evaluate(clean, SETTINGS) == []
    broken = facts(
        today=date(2026, 3, 10), first_activity_on=date(2026, 3, 1), last_full_inventory_on=None,
        counts=[count("40", "50")],
        session_ends=[ended(1)],
        waste=[waste(confirmed=(), minutes_after_withdrawal=90)],
        monitoring_forms=[form(None)],
        expired_stock=[ExpiredStock(VAULT, LOT, KETAMINE, "L-OLD", date(2026, 3, 1), Decimal(1))],
    )  # fmt: skip
    assert [f.finding.rule for f in rules.evaluate(broken, SETTINGS)] == [
        "count_variance", "holding_not_emptied", "waste_unwitnessed", "waste_late",
        "monitoring_form_overdue", "expired_stock_on_hand", "inventory_due",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "flagged"), [("56", False), ("84", False), ("28", True), ("112", True), ("0", True)]
)
def test_an_esketamine_session_discharged_after_a_dose_other_than_56_or_84_mg(given, flagged):
    end = ended(0, (), esketamine_mg=Decimal(given))
    iv = ended(0, ())
    found = rules.esketamine_dose_unusual(facts(session_ends=[end, iv]), SETTINGS)
    assert [f.finding.fingerprint for f in found] == (
        [f"esketamine_dose_unusual:session:{end.session_id}"] if flagged else []
    )
    assert [f.finding.summary for f in found] == (
        [f"Esketamine session of patient MRN-1 in Room 2 discharged on 2026-03-02 12:00 CST "
         f"after {given} mg given, not 56 or 84 mg"] if flagged else []
    )  # fmt: skip
    assert [(f.subject, f.event_ids) for f in found] == (
        [(Subject(location_id=ROOM, patient_id=PATIENT, session_id=end.session_id),
          end.event_ids)] if flagged else []
    )  # fmt: skip


def test_an_unreported_theft_is_overdue_the_day_after_each_due_date():
    report = OpenReport(uuid.uuid4(), date(2026, 3, 2), False, date(2026, 4, 13), ())

    def late(today: date, notice_given: bool = False) -> list[str]:
        given = replace(report, notice_given=notice_given)
        found = rules.dea_report_overdue(facts(today=today, open_reports=[given]), SETTINGS)
        return [str(f.finding.details["late"]) for f in found]

    assert late(date(2026, 3, 2)) == []
    assert late(date(2026, 3, 3)) == ["['written notice']"]
    assert late(date(2026, 3, 3), notice_given=True) == []
    assert late(date(2026, 4, 14), notice_given=True) == ["['DEA Form 106']"]


def test_a_report_overdue_says_what_is_owed_for_what_and_is_about_what_its_finding_is():
    theft = OpenReport(
        uuid.uuid4(), date(2026, 3, 3), False, date(2026, 4, 16), (NURSE,),
        summary="Theft of 2 mL of Ketamine HCl (lot KA2611) at Vault", discovered_at=NOON,
        subject=Subject(location_id=VAULT, lot_id=LOT, product_id=KETAMINE),
        event_ids=(uuid.UUID(int=61),),
    )  # fmt: skip
    [found] = rules.dea_report_overdue(facts(today=date(2026, 4, 20), open_reports=[theft]),
                                       SETTINGS)  # fmt: skip
    assert found.finding.summary == (
        "Written notice (due 2026-03-03) and DEA Form 106 (due 2026-04-16) overdue to the DEA, "
        "for theft of 2 mL of Ketamine HCl (lot KA2611) at Vault, discovered 2026-03-02 12:00 CST"
    )
    assert (found.subject, found.event_ids, found.staff_ids) == (
        theft.subject, theft.event_ids, (NURSE,),
    )  # fmt: skip


# peer_outliers


IV_05 = like_work("iv_infusion", Decimal("0.5"))
ESKETAMINE_56, ESKETAMINE_84 = (like_work("esketamine_nasal", Decimal(mg)) for mg in (56, 84))
PRODUCT = uuid.uuid4()
PEERS = SETTINGS.peers
WASTE, WITHDRAWN, DISCREPANCIES = PeerMeasure


def peer(
    staff: str, per_session: Decimal | str, measure: PeerMeasure = WASTE, *,
    sessions: int = 10, work: str = IV_05,
) -> PeerStat:  # fmt: skip
    return PeerStat(staff, "nurse", PRODUCT, work, measure, Decimal(per_session), sessions)


def outliers(*stats: PeerStat, settings: rules.Settings = SETTINGS) -> list[str]:
    """Who is flagged, as staff id and measure."""
    found = rules.peer_outliers(facts(peer_stats=stats), SETTINGS)
    assert all(f.finding.rule == "peer_outlier" for f in found)
    return [f"{f.staff_ids[0]} {f.finding.details['measure']}" for f in found]


NEAR_IDENTICAL = [peer("a", "462.3"), peer("b", "463.525"), peer("c", "463.55"),
                  peer("d", "463.575")]  # fmt: skip
"""IV waste per session of a whole 500 mg vial less the dose, as the clean replay had it: a
median of 463.55 mg and a median absolute deviation of 0.025 mg."""


def test_near_identical_peers_raise_nothing():
    """A nurse 0.65 mg (0.14 %) above the median: a robust z of 17.5 over the raw deviation,
    which measures rounding and the patients' weights, not what she did."""
    assert outliers(*NEAR_IDENTICAL, peer("e", "464.2")) == []


def test_a_nurse_who_draws_a_second_vial_and_wastes_it_whole_is_flagged():
    [found] = rules.peer_outliers(facts(peer_stats=[*NEAR_IDENTICAL, peer("e", "963.55")]),
                                  SETTINGS)  # fmt: skip
    assert (found.staff_ids, found.subject.product_id, found.finding.severity) == (
        ("e",), PRODUCT, Severity.info,
    )  # fmt: skip
    assert found.finding.fingerprint == f"peer_outlier:waste:e:{PRODUCT}:iv_infusion 0.5 mg/kg"
    assert found.finding.details == {
        "measure": "waste", "work": "iv_infusion 0.5 mg/kg", "per_session": "963.55",
        "peer_median": "463.55", "difference": "500", "sessions": 10, "peers": 5,
        "robust_z": "337.25",
    }  # fmt: skip
    assert found.finding.summary == (
        "Staff member e (nurse) wasted 963.55 mg per session of product "
        f"{PRODUCT} in 10 iv infusion 0.5 mg/kg sessions, against a median of 463.55 mg "
        "among the 5 compared (robust z 337.25)"
    )


def test_a_peer_finding_names_the_person_and_the_product():
    stats = [replace(s, product_id=KETAMINE) for s in [*NEAR_IDENTICAL, peer(NURSE, "963.55")]]
    [found] = rules.peer_outliers(facts(peer_stats=stats), SETTINGS)
    assert found.finding.summary == (
        "Dana Reyes (nurse) wasted 963.55 mg per session of Ketamine HCl in 10 iv infusion "
        "0.5 mg/kg sessions, against a median of 463.55 mg among the 5 compared (robust z "
        "337.25)"
    )
    assert (found.staff_ids, found.subject) == ((NURSE,), Subject(product_id=KETAMINE))


def test_a_difference_matters_from_its_floors_in_mg_and_as_a_share_of_the_median():
    """Peers alike at 460 mg: 5 mg above is the absolute floor, 46 mg (10 %) the relative one;
    with 40 mg of peers, 5 mg above is 12.5 %."""
    alike = [peer(name, "460") for name in "abcd"]
    assert outliers(*alike, peer("e", "505.999")) == []
    assert outliers(*alike, peer("e", "506")) == ["e waste"]
    small = [peer(name, "40") for name in "abcd"]
    assert outliers(*small, peer("e", "44.999")) == []
    assert outliers(*small, peer("e", "45")) == ["e waste"]


def test_a_nurse_with_fewer_sessions_than_the_minimum_is_neither_compared_nor_a_peer():
    assert PEERS.min_sessions == 3
    single = peer("e", "963.55", sessions=1)
    assert outliers(*NEAR_IDENTICAL, single) == []  # four peers left: too few to compare
    enough = [*NEAR_IDENTICAL, peer("f", "463.55")]
    assert outliers(*enough, peer("e", "963.55", sessions=2)) == []
    assert outliers(*enough, peer("e", "963.55", sessions=3)) == ["e waste"]


def test_a_group_needs_the_person_and_four_peers():
    assert PEERS.min_peers == 4
    assert outliers(*NEAR_IDENTICAL[1:], peer("e", "963.55")) == []
    assert outliers(*NEAR_IDENTICAL, peer("e", "963.55")) == ["e waste"]


def test_a_nurse_treating_only_84_mg_patients_is_compared_with_those_who_do():
    """Esketamine withdrawn per session: 56 mg for most, 84 mg for whoever has only 84 mg
    patients. Compared across doses she would be flagged; within like work she is not."""
    fifty_six = [peer(name, "56", WITHDRAWN, work=ESKETAMINE_56) for name in "abcde"]
    eighty_four = peer("f", "84", WITHDRAWN, work=ESKETAMINE_84)
    assert outliers(*fifty_six, eighty_four) == []
    mixed = replace(eighty_four, work=ESKETAMINE_56)
    assert outliers(*fifty_six, mixed) == ["f withdrawn"]
    like = [peer(name, "84", WITHDRAWN, work=ESKETAMINE_84) for name in "ghij"]
    assert outliers(*fifty_six, eighty_four, *like) == []


def test_groups_are_of_one_role_product_work_and_measure():
    outlier = [*NEAR_IDENTICAL, peer("e", "963.55")]
    apart = [
        [replace(s, role="clinician") if s.staff_id == "e" else s for s in outlier],
        [replace(s, product_id=uuid.uuid4()) if s.staff_id == "e" else s for s in outlier],
        [replace(s, work=ESKETAMINE_56) if s.staff_id == "e" else s for s in outlier],
        [replace(s, measure=WITHDRAWN) if s.staff_id == "e" else s for s in outlier],
    ]
    for stats in apart:
        assert outliers(*stats) == []


def test_when_most_peers_share_the_median_the_mean_deviation_measures_the_spread():
    """Discrepancies per session: most staff have none, so the median absolute deviation is
    0; one in six at 1 lies about 4.8 mean deviations out (flagged), one in five about 4.0
    (flagged), one in four too few peers."""
    none = [peer(name, "0", DISCREPANCIES) for name in "abcde"]
    one = peer("f", "1", DISCREPANCIES)
    [found] = rules.peer_outliers(facts(peer_stats=[*none, one]), SETTINGS)
    assert (found.staff_ids, found.finding.details["robust_z"]) == (("f",), "4.79")
    [found] = rules.peer_outliers(facts(peer_stats=[*none[1:], one]), SETTINGS)
    assert found.finding.details["robust_z"] == "3.99"
    assert outliers(*none[2:], one) == []


def test_one_more_discrepancy_in_ten_sessions_is_the_least_that_matters():
    none = [peer(name, "0", DISCREPANCIES) for name in "abcdef"]
    assert outliers(*none, peer("g", "0.099", DISCREPANCIES)) == []
    assert outliers(*none, peer("g", "0.1", DISCREPANCIES)) == ["g discrepancies"]


per_session = st.decimals(min_value=0, max_value=2000, places=3)
sessions = st.integers(min_value=1, max_value=40)


@given(per_session, st.lists(st.tuples(st.decimals(min_value=-2, max_value=2, places=3),
                                       sessions), max_size=30))  # fmt: skip
def test_peers_within_the_floors_of_each_other_are_never_flagged_however_many(base, others):
    """Any number of peers within 2 mg of one amount (so within 4 mg of each other and of
    their median, under the 5 mg floor), however alike most of them are."""
    stats = [peer(str(n), max(Decimal(0), base + offset), sessions=count)
             for n, (offset, count) in enumerate(others)]  # fmt: skip
    assert outliers(*stats) == []


@given(
    st.lists(st.tuples(per_session, sessions), min_size=1, max_size=12),
    st.sampled_from(list(PeerMeasure)),
    st.integers(min_value=-2, max_value=3),
)
def test_the_findings_do_not_depend_on_the_unit(amounts, measure, exponent):
    """Amounts and the floors in their unit scaled by a power of ten (mg as g or µg): the same
    people are flagged, with the same z-scores."""
    factor = Decimal(10) ** exponent
    floors = PEERS.floors[measure]
    scaled_floors = replace(floors, difference=floors.difference * factor,
                            mad=floors.mad * factor)  # fmt: skip
    scaled_settings = replace(SETTINGS, peers=replace(
        PEERS, floors={**PEERS.floors, measure: scaled_floors}))  # fmt: skip
    stats = [peer(str(n), value, measure, sessions=count)
             for n, (value, count) in enumerate(amounts)]  # fmt: skip
    scaled = [replace(s, per_session=s.per_session * factor) for s in stats]

    def z_scores(found: list[Found]) -> list[tuple[str, str]]:
        return [(f.staff_ids[0], f.finding.details["robust_z"]) for f in found]

    assert z_scores(rules.peer_outliers(facts(peer_stats=stats), SETTINGS)) == z_scores(
        rules.peer_outliers(facts(peer_stats=scaled), scaled_settings)
    )


@given(
    st.lists(st.tuples(per_session, sessions), min_size=1, max_size=12),
    per_session,
    st.integers(min_value=0, max_value=2),
)
def test_a_person_below_the_minimum_sessions_is_never_compared_nor_weighs_on_others(
    amounts, value, few
):
    stats = [peer(str(n), amount, sessions=count) for n, (amount, count) in enumerate(amounts)]
    newcomer = peer("newcomer", value, sessions=few)
    assert outliers(*stats, newcomer) == outliers(*stats)


@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=3, max_size=12))
def test_nobody_at_or_below_the_median_is_an_outlier(values):
    stats = [peer(str(n), str(v)) for n, v in enumerate(values)]
    found = outliers(*stats)
    middle = sorted(values)[len(values) // 2]
    assert all(values[int(who.split()[0])] > middle for who in found)
    # Measures are compared separately: the same numbers as withdrawals add their own.
    mixed = stats + [peer(str(n), str(v), WITHDRAWN) for n, v in enumerate(values)]
    assert len(outliers(*mixed)) == 2 * len(found)
