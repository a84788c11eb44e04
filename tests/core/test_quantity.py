"""Exact quantities: minor units, the decimal strings clients see, and the pydantic type."""

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.core.quantity import (
    QuantityPrecisionError,
    format_minor,
    format_quantity,
    from_minor,
    to_minor,
)
from app.core.schemas import PositiveQuantity, Quantity

LIMIT = 10**12
quantities = st.decimals(min_value=-LIMIT, max_value=LIMIT, places=3)
# JSON numbers arrive as binary floats: exact only up to about 15 significant digits.
float_exact_quantities = st.decimals(min_value=-(10**9), max_value=10**9, places=3)
finer_than_thousandths = st.builds(
    lambda units, places: Decimal(units).scaleb(-places),
    st.integers(-(10**9), 10**9).filter(lambda n: n % 10 != 0),
    st.integers(4, 8),
)
quantity_adapter = TypeAdapter(Quantity)


@given(value=quantities)
def test_to_minor_counts_thousandths_and_from_minor_gives_them_back(value):
    minor = to_minor(value)
    assert minor == int(value * 1000)
    assert from_minor(minor) == value
    assert to_minor(str(value)) == minor


@given(value=finer_than_thousandths)
def test_to_minor_refuses_more_than_three_places_instead_of_rounding(value):
    with pytest.raises(QuantityPrecisionError, match="3 decimal places"):
        to_minor(value)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "twelve", ""])
def test_to_minor_refuses_what_is_not_a_finite_number(value):
    with pytest.raises(QuantityPrecisionError):
        to_minor(value)


@given(value=quantities)
def test_format_quantity_has_no_exponent_and_no_trailing_zeros(value):
    text = format_quantity(value)
    assert "e" not in text.lower()
    if "." in text:
        assert not text.endswith(("0", "."))
    assert Decimal(text) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [("12.500", "12.5"), ("1E+2", "100"), ("100", "100"), ("0.001", "0.001"), ("-0.0", "-0")],
)
def test_format_quantity_examples(value, text):
    assert format_quantity(Decimal(value)) == text


# The pydantic type


@given(value=quantities)
def test_quantity_takes_a_decimal_string_and_gives_one_back(value):
    parsed = quantity_adapter.validate_python(str(value))
    assert parsed == value
    assert quantity_adapter.dump_python(parsed, mode="json") == format_quantity(value)


@given(value=float_exact_quantities)
def test_quantity_takes_a_json_number(value):
    assert quantity_adapter.validate_json(str(value).encode()) == value


@given(value=st.integers(-LIMIT, LIMIT))
def test_quantity_takes_an_integer(value):
    assert quantity_adapter.dump_json(quantity_adapter.validate_python(value)) == (
        f'"{value}"'.encode()
    )


@given(value=float_exact_quantities)
def test_quantity_takes_a_float_by_its_shortest_decimal_form(value):
    assert quantity_adapter.validate_python(float(value)) == value


@given(value=finer_than_thousandths)
def test_quantity_refuses_more_than_three_places(value):
    with pytest.raises(ValidationError, match="3 decimal places"):
        quantity_adapter.validate_python(str(value))


@pytest.mark.parametrize(
    "value",
    [True, False, math.nan, math.inf, -math.inf, "NaN", "Infinity", None, [1], "1,5"],
)
def test_quantity_refuses_booleans_non_finite_and_non_numbers(value):
    with pytest.raises(ValidationError):
        quantity_adapter.validate_python(value)


@pytest.mark.parametrize("document", [b"true", b"NaN", b"Infinity", b'"inf"'])
def test_quantity_refuses_booleans_and_non_finite_json(document):
    with pytest.raises(ValidationError):
        quantity_adapter.validate_json(document)


@pytest.mark.parametrize("value", ["0", "-0.001", -5])
def test_positive_quantity_refuses_zero_and_below(value):
    with pytest.raises(ValidationError, match="greater than zero"):
        TypeAdapter(PositiveQuantity).validate_python(value)


@pytest.mark.parametrize("value", [1e12, -3.5e15, 12345678901234567.125])
def test_quantity_refuses_json_numbers_too_large_to_be_exact(value):
    with pytest.raises(ValidationError, match="as decimal strings"):
        quantity_adapter.validate_python(value)
    assert quantity_adapter.validate_python(str(int(value))) == Decimal(int(value))


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_a_stored_quantity_is_formatted_as_its_decimal_would_be(minor):
    assert format_minor(minor) == format_quantity(from_minor(minor))
