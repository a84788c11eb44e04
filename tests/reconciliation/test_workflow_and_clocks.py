"""The DEA clocks and the discrepancy workflow, as pure functions."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.reconciliation.clocks import form_106_due_on, next_business_day, notice_due_on
from app.reconciliation.workflow import CLOSED, NEXT, Status, may_move

days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
holiday_sets = st.frozensets(days, max_size=20)


def is_business_day(day: date, holidays: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


@given(days, holiday_sets)
def test_the_next_business_day_is_the_first_after_the_day(day, holidays):
    due = next_business_day(day, holidays)
    assert due > day
    assert is_business_day(due, holidays)
    between = (day + timedelta(days=n) for n in range(1, (due - day).days))
    assert not any(is_business_day(d, holidays) for d in between)


def test_a_friday_discovery_is_noticed_by_monday_and_a_holiday_moves_it_on():
    friday = date(2026, 2, 27)
    assert notice_due_on(friday, frozenset()) == date(2026, 3, 2)
    assert notice_due_on(friday, frozenset({date(2026, 3, 2)})) == date(2026, 3, 3)
    assert form_106_due_on(friday) == date(2026, 4, 13)


@given(days)
def test_form_106_is_due_45_days_after_discovery(day):
    assert (form_106_due_on(day) - day).days == 45


@given(
    st.sampled_from(Status),
    st.sampled_from(Status),
    st.booleans(),
    st.sampled_from(["theft", "loss", "count_variance"]),
)
def test_nothing_moves_back_or_out_of_a_closed_status(current, to, reportable, rule):
    order = list(Status)
    if may_move(current, to, rule=rule, reportable=reportable):
        assert current not in CLOSED
        assert to != current
        assert order.index(to) > order.index(current) or to is Status.reported


@given(st.sampled_from([Status.open, Status.acknowledged]))
def test_only_a_reportable_discrepancy_goes_straight_to_reported(current):
    assert may_move(current, Status.reported, rule="loss", reportable=True)
    assert not may_move(current, Status.reported, rule="override_used", reportable=False)


@given(st.sampled_from(Status), st.sampled_from([Status.resolved, Status.unable_to_reconcile]))
def test_a_theft_ends_only_in_a_report(current, to):
    assert not may_move(current, to, rule="theft", reportable=True)


def test_every_status_says_where_it_may_go():
    assert set(NEXT) == set(Status)


@given(st.sampled_from(Status), st.booleans(), st.sampled_from(["theft", "loss", "inventory_due"]))
def test_no_person_cures_a_finding_nor_moves_a_cured_one(current, reportable, rule):
    """Curing is a run's move, and so is opening a cured finding again."""
    assert not may_move(current, Status.cured, rule=rule, reportable=reportable)
    assert not may_move(Status.cured, current, rule=rule, reportable=reportable)
    assert Status.cured not in CLOSED  # its finding reopens it, rather than open another
