"""DEA numbers, NPIs and NDCs, checked against oracles written here from the rules in
docs/domain.md#identifiers."""

import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.core.identifiers import format_ndc, normalize_ndc, validate_dea_number, validate_npi

ALLOWED_FIRST_LETTERS = "ABFGMPR"
digit_strings = st.text(alphabet=string.digits, min_size=1, max_size=12)


def digits(count: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=string.digits, min_size=count, max_size=count)


# DEA numbers


def expected_dea_check_digit(six: str) -> str:
    """The ones digit of (d1 + d3 + d5) + 2 x (d2 + d4 + d6), by odd and even positions."""
    odd_positions = sum(int(c) for c in six[0::2])
    even_positions = sum(int(c) for c in six[1::2])
    return str(odd_positions + 2 * even_positions)[-1]


dea_prefixes = st.tuples(
    st.sampled_from(ALLOWED_FIRST_LETTERS),
    st.sampled_from(string.ascii_uppercase + "9"),
).map("".join)


@given(prefix=dea_prefixes, six=digits(6))
def test_dea_number_with_computed_check_digit_is_accepted(prefix, six):
    number = prefix + six + expected_dea_check_digit(six)
    assert validate_dea_number(number) == number


@given(prefix=dea_prefixes, six=digits(6), wrong=st.sampled_from(string.digits))
def test_dea_number_with_any_other_check_digit_is_refused(prefix, six, wrong):
    assume(wrong != expected_dea_check_digit(six))
    with pytest.raises(ValueError, match="check digit"):
        validate_dea_number(prefix + six + wrong)


@given(
    first=st.sampled_from(sorted(set(string.ascii_uppercase) - set(ALLOWED_FIRST_LETTERS))),
    six=digits(6),
)
def test_dea_number_with_a_first_letter_outside_the_registrant_types_is_refused(first, six):
    with pytest.raises(ValueError, match="cannot start with"):
        validate_dea_number(first + "K" + six + expected_dea_check_digit(six))


@given(prefix=dea_prefixes, six=digits(6))
def test_dea_number_in_lower_case_is_normalised_to_upper_case(prefix, six):
    number = prefix + six + expected_dea_check_digit(six)
    assert validate_dea_number(f"  {number.lower()} ") == number


def test_dea_number_example_of_the_domain_reference():
    assert validate_dea_number("AP5836727") == "AP5836727"
    with pytest.raises(ValueError, match="check digit"):
        validate_dea_number("AP5836728")


def test_dea_number_second_character_may_be_nine():
    """Registrants whose name starts with a digit, and some mid-levels, carry a 9 there."""
    assert validate_dea_number("M91234563") == "M91234563"


@pytest.mark.parametrize("malformed", ["AP583672", "AP58367270", "A15836727", "1P5836727", ""])
def test_dea_number_not_two_letters_and_seven_digits_is_refused(malformed):
    with pytest.raises(ValueError, match="2 letters and 7 digits"):
        validate_dea_number(malformed)


# NPIs


def expected_luhn_digit(payload: str) -> str:
    """The digit that makes ``payload`` + digit pass Luhn: double every other from the right."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += sum(divmod(value, 10))
    return str(-total % 10)


def test_npi_example_of_the_domain_reference():
    assert expected_luhn_digit("80840" + "124531959") == "9"
    assert validate_npi("1245319599") == "1245319599"


@given(nine=digits(9))
def test_npi_with_luhn_digit_over_the_80840_prefix_is_accepted(nine):
    npi = nine + expected_luhn_digit("80840" + nine)
    assert validate_npi(npi) == npi


@given(nine=digits(9), wrong=st.sampled_from(string.digits))
def test_npi_with_any_other_last_digit_is_refused(nine, wrong):
    assume(wrong != expected_luhn_digit("80840" + nine))
    with pytest.raises(ValueError, match="check digit"):
        validate_npi(nine + wrong)


@given(candidate=digit_strings.filter(lambda s: len(s) != 10))
def test_npi_of_another_length_is_refused(candidate):
    with pytest.raises(ValueError, match="10 digits"):
        validate_npi(candidate)


# NDCs

NDC_FORMS = {
    # form: (segment lengths, where the zero goes to make 5-4-2)
    "4-4-2": (4, 4, 2),
    "5-3-2": (5, 3, 2),
    "5-4-1": (5, 4, 1),
}


@st.composite
def dashed_ndcs(draw: st.DrawFn) -> tuple[str, str]:
    """A dashed 10-digit NDC and, written out per form, its 11-digit equivalent."""
    form = draw(st.sampled_from(sorted(NDC_FORMS)))
    labeler, product, package = (draw(digits(n)) for n in NDC_FORMS[form])
    if form == "4-4-2":
        eleven = "0" + labeler + product + package
    elif form == "5-3-2":
        eleven = labeler + "0" + product + package
    else:
        eleven = labeler + product + "0" + package
    return f"{labeler}-{product}-{package}", eleven


@given(case=dashed_ndcs())
def test_dashed_ndc_maps_to_eleven_digits_padding_the_short_segment(case):
    dashed, eleven = case
    assert normalize_ndc(dashed) == eleven


@pytest.mark.parametrize(
    ("dashed", "eleven"),
    [
        ("0409-2051-05", "00409205105"),
        ("50458-028-02", "50458002802"),
        ("12345-6789-1", "12345678901"),
    ],
)
def test_dashed_ndc_examples(dashed, eleven):
    assert normalize_ndc(dashed) == eleven


@given(eleven=digits(11))
def test_eleven_digit_ndc_is_kept_as_given(eleven):
    assert normalize_ndc(eleven) == eleven


@given(ten=digits(10))
def test_ten_digit_ndc_without_dashes_is_refused_as_ambiguous(ten):
    with pytest.raises(ValueError, match="needs its dashes"):
        normalize_ndc(ten)


@given(
    lengths=st.tuples(st.integers(1, 6), st.integers(1, 5), st.integers(1, 3)).filter(
        lambda lengths: lengths not in {(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)}
    ),
    data=st.data(),
)
def test_dashed_ndc_in_any_other_shape_is_refused(lengths, data):
    segments = [data.draw(digits(n)) for n in lengths]
    with pytest.raises(ValueError, match="4-4-2, 5-3-2 or 5-4-1"):
        normalize_ndc("-".join(segments))


@given(case=dashed_ndcs())
def test_formatted_ndc_reads_back_to_the_same_eleven_digits(case):
    dashed, _ = case
    eleven = normalize_ndc(dashed)
    formatted = format_ndc(eleven)
    assert [len(segment) for segment in formatted.split("-")] == [5, 4, 2]
    assert formatted.replace("-", "") == eleven
    assert normalize_ndc(formatted) == eleven


# Digits are ASCII digits

OTHER_DIGITS = {
    "fullwidth": "".join(chr(0xFF10 + n) for n in range(10)),
    "arabic-indic": "".join(chr(0x0660 + n) for n in range(10)),
}


def in_other_digits(text: str, script: str) -> str:
    return "".join(OTHER_DIGITS[script][int(c)] if c.isascii() and c.isdigit() else c
                   for c in text)  # fmt: skip


@pytest.mark.parametrize("script", sorted(OTHER_DIGITS))
@pytest.mark.parametrize(
    ("check", "value"),
    [(validate_dea_number, "AP5836727"), (validate_npi, "1245319599"),
     (normalize_ndc, "50458-028-02"), (normalize_ndc, "50458002802")],
    ids=["dea", "npi", "dashed ndc", "11-digit ndc"],
)  # fmt: skip
def test_an_identifier_written_in_other_digits_is_refused(check, value, script):
    assert check(value)
    with pytest.raises(ValueError, match=r"digits|is 2 letters"):
        check(in_other_digits(value, script))
