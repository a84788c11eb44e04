"""The words a run's findings are phrased in: quantities with their unit, a count against what
was expected, spans and places in a sequence (pure; Hypothesis)."""

from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.core.quantity import format_quantity
from app.reconciliation.words import (
    minutes_words,
    ordinal,
    quantity_words,
    variance_words,
)

quantities = st.decimals(min_value=0, max_value=100_000, places=3)
units = st.sampled_from(["mL", "g", "each", "device"])


@given(quantities, units)
def test_a_quantity_is_said_with_its_unit(value, unit):
    said = quantity_words(value, unit)
    number, word = said.split(" ")
    assert Decimal(number) == value
    assert number == format_quantity(value)
    assert word == ("devices" if unit == "device" and value != 1 else unit)


@given(quantities, quantities, units)
def test_a_count_is_short_over_or_matches_by_the_difference(counted, expected, unit):
    said = variance_words(counted, expected, unit)
    if counted == expected:
        assert said == "matches"
    else:
        kind = "short" if counted < expected else "over"
        assert said == f"{kind} by {quantity_words(abs(counted - expected), unit)}"


def test_a_count_in_words():
    assert variance_words(Decimal("656.000"), Decimal(660), "mL") == "short by 4 mL"
    assert variance_words(Decimal("660.5"), Decimal(660), "mL") == "over by 0.5 mL"
    assert variance_words(Decimal(1), Decimal(2), "device") == "short by 1 device"
    assert variance_words(Decimal(0), Decimal(2), "device") == "short by 2 devices"
    assert variance_words(Decimal(2), Decimal(2), "device") == "matches"


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=59))
def test_a_span_is_said_in_whole_minutes(minutes, seconds):
    said = minutes_words(timedelta(minutes=minutes, seconds=seconds))
    assert said == f"{minutes} minute{'' if minutes == 1 else 's'}"


@given(st.integers(min_value=1, max_value=10_000))
def test_a_place_in_a_sequence_ends_as_it_is_said(number):
    said = ordinal(number)
    assert said[:-2] == str(number)
    if number % 100 in (11, 12, 13):
        assert said.endswith("th")
    else:
        assert said[-2:] == {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
