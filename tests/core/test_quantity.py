"""Exact quantities: minor units, the decimal strings clients see, the one grammar they are
taken in, and the pydantic type."""

import string
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.core import quantity
from app.core.quantity import (
    QuantityError,
    bounded,
    format_minor,
    format_quantity,
    from_minor,
    parse_quantity,
    rounded,
    to_minor,
)
from app.core.schemas import PositiveQuantity, Quantity

INT64_MAX = 2**63 - 1
LIMIT = 10**12
quantities = st.decimals(min_value=-LIMIT, max_value=LIMIT, places=3)
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
    with pytest.raises(QuantityError, match="3 decimal places"):
        to_minor(value)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "twelve", ""])
def test_to_minor_refuses_what_is_not_a_finite_number(value):
    with pytest.raises(QuantityError):
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


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_a_stored_quantity_is_formatted_as_its_decimal_would_be(minor):
    assert format_minor(minor) == format_quantity(from_minor(minor))


# The grammar, against an oracle written here from its definition


def in_grammar(text: str) -> bool:
    """ASCII digits, no sign, at most seven before the point and no leading zero, and after a
    point one to three."""
    whole, point, fraction = text.partition(".")

    def ascii_digits(part: str) -> bool:
        return part != "" and all(c in string.digits for c in part)

    whole_ok = ascii_digits(whole) and len(whole) <= 7 and (whole == "0" or whole[0] != "0")
    return whole_ok and (not point or (ascii_digits(fraction) and len(fraction) <= 3))


def thousandths_of(text: str) -> int:
    """What ``text`` says, in thousandths, read digit by digit (no Decimal)."""
    whole, _, fraction = text.partition(".")
    return int(whole) * 1000 + int(fraction.ljust(3, "0"))


def canonical(text: str) -> str:
    """``text`` as the API shows it: the fraction without trailing zeros, no bare point."""
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


in_the_grammar = st.from_regex(quantity.PATTERN, fullmatch=True)
OTHER_DIGITS = "\uff10\uff11\uff19\u0660\u0661\u06f1\u0966\u0967\U0001d7ce"
"""Fullwidth, Arabic-Indic, extended Arabic-Indic and Devanagari digits, a mathematical one:
digits to Python's int() and Decimal(), never to the ledger."""
MUTATIONS = [
    lambda t, c: f"{t}e{c}",
    lambda t, c: f"{t}E+{c}",
    lambda t, c: t[:1] + "_" + t[1:],
    lambda t, c: t[:1] + c + t[1:],
    lambda t, c: c + t,
    lambda t, c: t + c,
    lambda t, c: f"-{t}",
    lambda t, c: f"+{t}",
    lambda t, c: f"0{t}",
    lambda t, c: f"{t}.0001" if "." not in t else f"{t}0001",
    lambda t, c: f"{t}{c}0000000",
    lambda t, c: f"{t},5",
    lambda t, c: f".{t}",
    lambda t, c: f"{t}.",
]
near_misses = st.builds(
    lambda text, mutate, other: mutate(text, other),
    in_the_grammar,
    st.sampled_from(MUTATIONS),
    st.sampled_from([*OTHER_DIGITS, " ", "\t", "\n", "\u00a0", "\u2009", "1", "9", "0"]),
)


@given(text=in_the_grammar)
@example("0")
@example("9999999.999")
@example("0.001")
@example("1.500")
def test_every_string_of_the_grammar_is_taken_and_round_trips_exactly(text):
    assert in_grammar(text)
    value = parse_quantity(text)
    minor = to_minor(value)
    assert minor == thousandths_of(text)
    assert format_minor(minor) == canonical(text) == format_quantity(value)
    assert parse_quantity(format_minor(minor)) == value
    assert quantity_adapter.dump_python(quantity_adapter.validate_python(text), mode="json") == (
        canonical(text)
    )


@given(text=st.one_of(near_misses, st.text(max_size=30), st.from_regex(r"[0-9.eE+\-_ ]{0,15}")))
@example("1_000")
@example("\uff11")
@example(" 1")
@example("1e308")
@example("1e1000")
@example("1" + "0" * 100)
@example("99999999999999999999999")
@example("9223372036854775807")
@example("9223372036854775.808")
@example("10000000")
@example("NaN")
@example("Infinity")
def test_whatever_the_grammar_does_not_write_is_refused(text):
    if in_grammar(text):
        assert parse_quantity(text) == Decimal(text)
        return
    with pytest.raises(QuantityError):
        parse_quantity(text)
    with pytest.raises(ValidationError):
        quantity_adapter.validate_python(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.0005", "at most 3 decimal places"),
        ("10000000", "at most 9999999.999"),
        ("9223372036854775.808", "at most 9999999.999"),
        ("007", "no leading zeros"),
        ("-1", "never negative"),
        ("1e3", "ASCII digits"),
        ("\uff11", "ASCII digits"),
    ],
)
def test_a_refusal_says_what_is_wrong(text, message):
    with pytest.raises(QuantityError, match=message):
        parse_quantity(text)


def test_the_bound_keeps_a_quantity_times_a_strength_within_64_bits():
    """An amount in mg (quantity x strength, rounded to thousandths) is stored as a BIGINT."""
    largest = quantity.LARGEST
    assert to_minor(rounded(largest * largest)) < INT64_MAX
    one_digit_more = Decimal(10 ** (quantity.WHOLE_DIGITS + 1)) - Decimal("0.001")
    assert to_minor(rounded(one_digit_more * one_digit_more)) > INT64_MAX


def test_the_schema_states_the_grammar():
    schema = quantity_adapter.json_schema(mode="validation")
    assert schema["type"] == "string"
    assert schema["pattern"] == quantity.PATTERN
    assert schema["maxLength"] == len("9999999.999")
    assert "9999999.999" in schema["description"]


# The pydantic type


@given(value=st.one_of(st.integers(), st.floats()))
@example(1e40)
@example(1)
def test_a_json_number_is_refused_with_what_to_send_instead(value):
    with pytest.raises(ValidationError, match="as a decimal string"):
        quantity_adapter.validate_python(value)


def test_the_refusal_of_a_number_shows_it_as_a_string():
    with pytest.raises(ValidationError, match=r'such as "0\.5"'):
        quantity_adapter.validate_python(0.5)


@pytest.mark.parametrize("value", [True, False, None, [1], {"value": "1"}])
def test_quantity_refuses_what_is_neither_a_string_nor_a_number(value):
    with pytest.raises(ValidationError, match="decimal string"):
        quantity_adapter.validate_python(value)


@pytest.mark.parametrize("document", [b"1", b"0.5", b"true", b"NaN", b"Infinity", b'"inf"'])
def test_quantity_refuses_json_that_is_not_a_decimal_string(document):
    with pytest.raises(ValidationError):
        quantity_adapter.validate_json(document)


@given(value=quantities)
def test_a_decimal_from_the_code_is_taken_unbounded(value):
    """Rows read back and amounts computed here (a total of mg) may exceed what is taken."""
    assert quantity_adapter.validate_python(value) == value


@given(value=finer_than_thousandths)
def test_a_decimal_finer_than_thousandths_is_refused(value):
    with pytest.raises(ValidationError, match="3 decimal places"):
        quantity_adapter.validate_python(value)


@pytest.mark.parametrize("value", ["0", "0.000", "-0.001", "-5"])
def test_positive_quantity_refuses_zero_and_below(value):
    with pytest.raises(ValidationError, match=r"greater than zero|never negative"):
        TypeAdapter(PositiveQuantity).validate_python(value)


# Quantities another format gave (a FHIR decimal)


@given(text=in_the_grammar)
def test_bounded_takes_whatever_the_grammar_writes(text):
    assert bounded(Decimal(text)) == Decimal(text)


@pytest.mark.parametrize(
    "value", ["1e40", "10000000", "-1", "NaN", "Infinity", "0.0001", "9223372036854775807"]
)
def test_bounded_refuses_what_the_grammar_could_not_write(value):
    with pytest.raises(QuantityError):
        bounded(Decimal(value))
