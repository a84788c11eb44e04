"""The rules of 21 CFR Part 1306 as pure functions (app/pharmacy/prescriptions/rules.py): six
calendar months from the date of issue, the refills and partial fills a prescription allows,
when a refill is early, and what receiving or filling a prescription breaks."""

import calendar
import dataclasses
import math
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.pharmacy.prescriptions import rules
from app.pharmacy.prescriptions.rules import (
    MAX_REFILLS,
    NEVER_OVERRIDDEN,
    FillFacts,
    PreviousFill,
    ReceiptFacts,
    RxRule,
    early_until,
    fill_breaks,
    is_partial,
    receipt_breaks,
    refill_number,
    six_months_after,
    total_authorized,
)

ISSUED = date(2026, 3, 2)
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(9000, 12, 31))
quantities = st.integers(min_value=1, max_value=100_000).map(lambda n: Decimal(n) / 1000)
"""Positive quantities to the thousandth, as the API stores them."""
refills = st.integers(min_value=0, max_value=MAX_REFILLS)


def facts(**overrides: object) -> FillFacts:
    """A first fill of a 30-unit, 30-day prescription with five refills, on its issue day:
    it breaks nothing."""
    base = FillFacts(
        cancelled=False, issued_on=ISSUED, day=ISSUED, quantity=Decimal(30),
        prescribed_quantity=Decimal(30), refills_authorized=5, dispensed_before=Decimal(0),
        previous=None, days_supply=30, early_share_percent=75,
        prescriber_expires_on=date(2027, 1, 31),
    )  # fmt: skip
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def receipt(**overrides: object) -> ReceiptFacts:
    base = ReceiptFacts(
        telehealth=True, in_person_evaluation_on=None, issued_on=ISSUED,
        flexibility_ends_on=date(2026, 12, 31), prescriber_expires_on=date(2027, 1, 31),
        prescriber_schedules=frozenset({"3N", "4"}),
    )  # fmt: skip
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


# Six months


@pytest.mark.parametrize(
    ("issued_on", "last_day"),
    [
        (date(2026, 3, 2), date(2026, 9, 2)),
        (date(2026, 7, 15), date(2027, 1, 15)),
        (date(2026, 12, 31), date(2027, 6, 30)),
        (date(2025, 8, 31), date(2026, 2, 28)),
        (date(2027, 8, 31), date(2028, 2, 29)),
        (date(2027, 8, 29), date(2028, 2, 29)),
        (date(2026, 3, 31), date(2026, 9, 30)),
        (date(2026, 6, 30), date(2026, 12, 30)),
        (date(2026, 1, 1), date(2026, 7, 1)),
    ],
)
def test_six_months_after_is_the_same_day_six_months_on_or_that_months_last(
    issued_on: date, last_day: date
) -> None:
    assert six_months_after(issued_on) == last_day


@given(dates)
def test_six_months_after_is_always_six_calendar_months_on(issued_on: date) -> None:
    last_day = six_months_after(issued_on)
    months = (last_day.year * 12 + last_day.month) - (issued_on.year * 12 + issued_on.month)
    assert months == 6
    month_length = calendar.monthrange(last_day.year, last_day.month)[1]
    assert last_day.day == min(issued_on.day, month_length)
    if issued_on.day > month_length:
        assert (last_day + timedelta(days=1)).day == 1  # clamped to the month's end


@given(dates)
def test_six_months_after_is_never_less_than_181_days_on(issued_on: date) -> None:
    """Six calendar months hold 181 to 184 days (the shortest span runs over February)."""
    last_day = six_months_after(issued_on)
    assert last_day >= issued_on + timedelta(days=181 - 3)
    assert 181 <= (last_day - issued_on).days <= 184


@given(dates, dates)
def test_six_months_after_is_monotonic(first: date, second: date) -> None:
    earlier, later = sorted((first, second))
    assert six_months_after(earlier) <= six_months_after(later)


@given(dates)
def test_the_next_day_never_has_an_earlier_last_day(issued_on: date) -> None:
    assert six_months_after(issued_on) <= six_months_after(issued_on + timedelta(days=1))


# What a prescription authorises


@given(quantities, st.integers(min_value=0, max_value=50))
def test_total_authorized_is_the_original_and_at_most_five_refills(
    prescribed: Decimal, refills_authorized: int
) -> None:
    total = total_authorized(prescribed, refills_authorized)
    assert total == prescribed * (1 + min(refills_authorized, 5))
    assert total <= prescribed * 6


def test_total_authorized_examples() -> None:
    assert total_authorized(Decimal(30), 0) == Decimal(30)
    assert total_authorized(Decimal(30), 5) == Decimal(180)
    assert total_authorized(Decimal(30), 6) == Decimal(180)
    assert total_authorized(Decimal("2.5"), 2) == Decimal("7.5")


@given(quantities, st.integers(min_value=0, max_value=10), st.integers(0, 999))
def test_refill_number_counts_the_whole_fillings_dispensed_before(
    prescribed: Decimal, whole: int, thousandths: int
) -> None:
    part = (prescribed * thousandths / 1000).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
    assert refill_number(prescribed, prescribed * whole + part) == whole


def test_partial_fills_of_one_filling_share_its_number() -> None:
    thirty = Decimal(30)
    assert [refill_number(thirty, Decimal(before)) for before in (0, 10, 29, 30, 45, 60)] == [
        0, 0, 0, 1, 1, 2,
    ]  # fmt: skip
    assert is_partial(facts(quantity=Decimal(10))) is True
    assert is_partial(facts(quantity=Decimal(20), dispensed_before=Decimal(10))) is True
    assert is_partial(facts(quantity=Decimal(30), dispensed_before=Decimal(10))) is True
    assert is_partial(facts(quantity=Decimal(30), dispensed_before=Decimal(60))) is False
    assert is_partial(facts(quantity=Decimal(30))) is False


@given(
    prescribed=st.integers(min_value=1, max_value=60).map(Decimal),
    refills_authorized=refills,
    fills=st.lists(st.integers(min_value=1, max_value=90).map(Decimal), max_size=20),
)
def test_fills_that_break_nothing_never_exceed_the_total(
    prescribed: Decimal, refills_authorized: int, fills: list[Decimal]
) -> None:
    total = total_authorized(prescribed, refills_authorized)
    dispensed = Decimal(0)
    numbers = []
    for quantity in fills:
        fill = facts(quantity=quantity, prescribed_quantity=prescribed,
                     refills_authorized=refills_authorized, dispensed_before=dispensed)  # fmt: skip
        broken = fill_breaks(fill)
        if dispensed >= total:
            assert broken == [RxRule.refills_exhausted]
        elif dispensed + quantity > total:
            assert broken == [RxRule.fills_exceed_total]
        elif quantity > prescribed - dispensed % prescribed:
            assert broken == [RxRule.fill_spans_fillings]
        else:
            assert broken == []
            number = refill_number(prescribed, dispensed)
            assert 0 <= number <= refills_authorized
            assert is_partial(fill) == (quantity < prescribed or dispensed % prescribed != 0)
            numbers.append(number)
            dispensed += quantity
        assert dispensed <= total
    assert numbers == sorted(numbers)


@given(prescribed=quantities, refills_authorized=refills)
def test_whole_fillings_are_numbered_in_turn_and_never_partial(
    prescribed: Decimal, refills_authorized: int
) -> None:
    for number in range(refills_authorized + 1):
        fill = facts(quantity=prescribed, prescribed_quantity=prescribed,
                     refills_authorized=refills_authorized,
                     dispensed_before=prescribed * number)  # fmt: skip
        assert fill_breaks(fill) == []
        assert (refill_number(prescribed, fill.dispensed_before), is_partial(fill)) == (
            number, False,
        )  # fmt: skip
    exhausted = facts(quantity=prescribed, prescribed_quantity=prescribed,
                      refills_authorized=refills_authorized,
                      dispensed_before=prescribed * (refills_authorized + 1))  # fmt: skip
    assert fill_breaks(exhausted) == [RxRule.refills_exhausted]


# Early refills


def previous(day: date, quantity: str) -> PreviousFill:
    return PreviousFill(day=day, quantity=Decimal(quantity))


def test_an_original_fill_is_never_early() -> None:
    assert early_until(facts()) is None
    assert RxRule.early_refill not in fill_breaks(facts(early_share_percent=100))


@pytest.mark.parametrize(
    ("quantity", "days_supply", "share", "days"),
    [
        ("30", 30, 75, 23),  # 22.5 days, rounded up
        ("10", 30, 75, 8),  # a third of the supply: 7.5 days
        ("30", 30, 100, 30),
        ("30", 30, 0, 0),
        ("60", 30, 75, 45),  # two fillings at once supply twice the days
        ("15", 28, 50, 7),
    ],
)
def test_early_until_is_the_share_of_the_previous_fills_supply(
    quantity: str, days_supply: int, share: int, days: int
) -> None:
    fill = facts(previous=previous(ISSUED, quantity), days_supply=days_supply,
                 early_share_percent=share, day=ISSUED + timedelta(days=60))  # fmt: skip
    assert early_until(fill) == ISSUED + timedelta(days=days)


@given(
    days_supply=st.integers(min_value=1, max_value=365),
    previous_quantity=st.integers(min_value=1, max_value=90).map(Decimal),
    share=st.integers(min_value=0, max_value=100),
)
def test_a_refill_is_early_exactly_before_early_until(
    days_supply: int, previous_quantity: Decimal, share: int
) -> None:
    base = facts(previous=PreviousFill(ISSUED, previous_quantity), days_supply=days_supply,
                 early_share_percent=share, dispensed_before=Decimal(30),
                 quantity=Decimal(1))  # fmt: skip
    until = early_until(base)
    assert until is not None
    assert until >= ISSUED
    on_the_day = dataclasses.replace(base, day=until)
    assert RxRule.early_refill not in fill_breaks(on_the_day)
    if until > ISSUED:
        the_day_before = dataclasses.replace(base, day=until - timedelta(days=1))
        assert RxRule.early_refill in fill_breaks(the_day_before)


@given(
    days_supply=st.integers(min_value=1, max_value=365),
    previous_quantity=st.integers(min_value=1, max_value=90).map(Decimal),
    shares=st.tuples(st.integers(0, 100), st.integers(0, 100)).map(sorted),
)
def test_a_larger_share_never_makes_a_refill_due_sooner(
    days_supply: int, previous_quantity: Decimal, shares: list[int]
) -> None:
    def until(share: int) -> date | None:
        return early_until(facts(previous=PreviousFill(ISSUED, previous_quantity),
                                 days_supply=days_supply, early_share_percent=share))  # fmt: skip

    smaller, larger = until(shares[0]), until(shares[1])
    assert smaller is not None
    assert larger is not None
    whole_supply = math.ceil(Fraction(days_supply * int(previous_quantity), 30))
    assert ISSUED <= smaller <= larger <= ISSUED + timedelta(days=whole_supply)


@given(
    prescribed=st.integers(min_value=1, max_value=60),
    previous_quantity=st.integers(min_value=1, max_value=60),
    days_supply=st.integers(min_value=1, max_value=90),
    share=st.integers(min_value=0, max_value=100),
)
@example(prescribed=9, previous_quantity=8, days_supply=12, share=75)  # 8 days, computed 9
@example(prescribed=30, previous_quantity=25, days_supply=14, share=60)  # 7 days, computed 8
def test_early_until_is_the_exact_share_rounded_up_to_a_whole_day(
    prescribed: int, previous_quantity: int, days_supply: int, share: int
) -> None:
    fill = facts(previous=PreviousFill(ISSUED, Decimal(previous_quantity)),
                 prescribed_quantity=Decimal(prescribed), days_supply=days_supply,
                 early_share_percent=share)  # fmt: skip
    exact = Fraction(days_supply * previous_quantity * share, prescribed * 100)
    assert early_until(fill) == ISSUED + timedelta(days=math.ceil(exact))


# What a fill breaks


def test_a_fill_on_the_last_day_is_in_time_and_the_next_day_is_not() -> None:
    last_day = six_months_after(ISSUED)
    assert fill_breaks(facts(day=last_day)) == []
    assert fill_breaks(facts(day=last_day + timedelta(days=1))) == [RxRule.fill_after_six_months]


def test_the_prescribers_registration_is_valid_through_its_expiry_day() -> None:
    expires_on = date(2026, 3, 20)
    assert fill_breaks(facts(day=expires_on, prescriber_expires_on=expires_on)) == []
    assert fill_breaks(
        facts(day=expires_on + timedelta(days=1), prescriber_expires_on=expires_on)
    ) == [RxRule.prescriber_registration_expired]


def test_a_fill_names_every_rule_it_breaks_in_order() -> None:
    broken = fill_breaks(facts(
        cancelled=True, day=date(2026, 9, 10), dispensed_before=Decimal(180),
        previous=PreviousFill(date(2026, 9, 1), Decimal(30)),
        prescriber_expires_on=date(2026, 9, 5),
    ))  # fmt: skip
    assert broken == [
        RxRule.prescription_cancelled,
        RxRule.refills_exhausted,
        RxRule.fill_after_six_months,
        RxRule.prescriber_registration_expired,
        RxRule.early_refill,
    ]


def test_refills_exhausted_and_fills_exceeding_the_total_are_told_apart() -> None:
    assert fill_breaks(facts(dispensed_before=Decimal(170), quantity=Decimal(10))) == []
    assert fill_breaks(facts(dispensed_before=Decimal(170), quantity=Decimal(11))) == [
        RxRule.fills_exceed_total
    ]
    assert fill_breaks(facts(dispensed_before=Decimal(180), quantity=Decimal(1))) == [
        RxRule.refills_exhausted
    ]


# What receiving breaks


def test_a_telehealth_prescription_needs_an_evaluation_after_the_flexibility_ends() -> None:
    ends_on = date(2026, 3, 1)
    assert receipt_breaks(receipt(flexibility_ends_on=ends_on)) == [
        RxRule.telemedicine_flexibility_ended
    ]
    assert receipt_breaks(receipt(flexibility_ends_on=ends_on, issued_on=ends_on)) == []
    evaluated = receipt(flexibility_ends_on=ends_on, in_person_evaluation_on=date(2026, 2, 1))
    assert receipt_breaks(evaluated) == []
    assert receipt_breaks(receipt(flexibility_ends_on=ends_on, telehealth=False)) == []


@pytest.mark.parametrize(
    ("schedules", "covered"),
    [({"3N"}, True), ({"3"}, True), ({"2", "3"}, True), ({"4"}, False), ({"2N", "4", "5"}, False)],
)
def test_the_prescriber_is_registered_for_schedule_iii(schedules: set[str], covered: bool) -> None:
    broken = receipt_breaks(receipt(prescriber_schedules=frozenset(schedules)))
    assert broken == ([] if covered else [RxRule.prescriber_schedule_not_authorised])


def test_the_prescribers_registration_is_valid_on_the_issue_date() -> None:
    assert receipt_breaks(receipt(prescriber_expires_on=ISSUED)) == []
    assert receipt_breaks(receipt(prescriber_expires_on=ISSUED - timedelta(days=1))) == [
        RxRule.prescriber_registration_expired
    ]


def test_a_receipt_names_every_rule_it_breaks_in_order() -> None:
    broken = receipt_breaks(receipt(
        flexibility_ends_on=date(2026, 3, 1), prescriber_expires_on=date(2026, 2, 1),
        prescriber_schedules=frozenset({"4"}),
    ))  # fmt: skip
    assert broken == [
        RxRule.telemedicine_flexibility_ended,
        RxRule.prescriber_registration_expired,
        RxRule.prescriber_schedule_not_authorised,
    ]


# Problems


def test_each_rule_has_its_own_problem_and_only_an_early_refill_is_excused() -> None:
    assert set(rules.BOOK.problems) == set(RxRule)
    for rule, problem in rules.BOOK.problems.items():
        assert (problem.slug, problem.status) == (rule.value.replace("_", "-"), 422)
        assert issubclass(problem, rules.PrescriptionRuleBroken)
    assert set(RxRule) - NEVER_OVERRIDDEN == {RxRule.early_refill}


@given(already=st.integers(min_value=1, max_value=29).map(Decimal),
       day=st.integers(min_value=0, max_value=20))  # fmt: skip
def test_completing_a_partly_filled_filling_is_never_early(already: Decimal, day: int) -> None:
    fill = facts(previous=PreviousFill(ISSUED, Decimal(30)), dispensed_before=already,
                 quantity=Decimal(30) - already, day=ISSUED + timedelta(days=day))  # fmt: skip
    assert early_until(fill) is None
    assert fill_breaks(fill) == []


def test_one_dispensing_gives_no_more_than_what_is_left_of_its_filling() -> None:
    assert fill_breaks(facts(dispensed_before=Decimal(25), quantity=Decimal(30),
                             previous=None)) == [RxRule.fill_spans_fillings]  # fmt: skip
    assert fill_breaks(facts(quantity=Decimal(60))) == [RxRule.fill_spans_fillings]


def test_a_late_entry_counts_the_fills_after_it_toward_the_total() -> None:
    late = facts(dispensed_before=Decimal(0), dispensed_later=Decimal(180), quantity=Decimal(1))
    assert fill_breaks(late) == [RxRule.refills_exhausted]
