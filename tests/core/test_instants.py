"""Instants (RFC 3339 with an offset) and days (YYYY-MM-DD): one grammar each, one range."""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.core import instants
from app.core.instants import (
    EARLIEST_DAY,
    EARLIEST_INSTANT,
    END_OF_INSTANTS,
    LATEST_DAY,
    InstantError,
    parse_day,
    parse_instant,
    printed_instant,
)
from app.core.schemas import Day, Instant

instant_adapter = TypeAdapter(Instant)
day_adapter = TypeAdapter(Day)
MICROSECOND = timedelta(microseconds=1)


def written(local: datetime, offset_minutes: int, digits: int, separator: str, zulu: str) -> str:
    """``local`` (naive, on the clock of the offset) as RFC 3339 writes it, with ``digits``
    decimals of the second."""
    text = local.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
    if digits:
        text += "." + f"{local.microsecond:06d}"[:digits]
    if offset_minutes == 0 and zulu:
        return text + zulu
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def truncated(local: datetime, digits: int) -> datetime:
    step = 10 ** (6 - digits)
    return local.replace(microsecond=local.microsecond // step * step)


# Naive times (read on the clock of an offset) a day inside the range, so that any offset
# keeps them in it.
local_times = st.datetimes(
    min_value=(EARLIEST_INSTANT + timedelta(days=1)).replace(tzinfo=None),
    max_value=(END_OF_INSTANTS - timedelta(days=1)).replace(tzinfo=None),
)
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)


@given(
    local=local_times, offset=offsets, digits=st.integers(0, 6),
    separator=st.sampled_from("Tt "), zulu=st.sampled_from(["Z", "z", ""]),
)  # fmt: skip
def test_every_rfc_3339_instant_in_the_range_is_taken_in_utc(
    local, offset, digits, separator, zulu
):
    text = written(local, offset, digits, separator, zulu)
    expected = truncated(local, digits).replace(tzinfo=timezone(timedelta(minutes=offset)))
    taken = parse_instant(text)
    assert taken == expected
    assert taken.tzinfo is UTC
    assert instant_adapter.validate_python(text) == expected


def test_the_range_is_inclusive_at_its_start_and_exclusive_at_its_end():
    def text(at: datetime) -> str:
        return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    assert parse_instant(text(EARLIEST_INSTANT)) == EARLIEST_INSTANT
    assert parse_instant(text(END_OF_INSTANTS - MICROSECOND)) == END_OF_INSTANTS - MICROSECOND
    for outside in (EARLIEST_INSTANT - MICROSECOND, END_OF_INSTANTS):
        with pytest.raises(InstantError, match="from 2000-01-01T00:00:00Z up to, not including"):
            parse_instant(text(outside))


@pytest.mark.parametrize(
    "text",
    ["2000-01-01T00:30:00+01:00", "2099-12-31T23:30:00-01:00", "0001-01-01T00:00:00+01:00",
     "9999-12-31T23:59:59-23:59", "0388-06-25T20:09:05Z"],
)  # fmt: skip
def test_the_range_is_of_the_instant_not_of_its_local_clock(text):
    with pytest.raises(InstantError, match="an instant from"):
        parse_instant(text)


MUTATIONS = {
    "no seconds": lambda t: t[:16] + t[19:],
    "an offset with seconds": lambda t: t + ":36" if t[-1] not in "Zz" else t[:-1] + "+00:00:36",
    "no offset": lambda t: t.rstrip("Zz")[:19] + t.rstrip("Zz")[19:].split("+")[0].split("-")[0],
    "an offset without a colon": lambda t: (
        t[:-6] + t[-6:].replace(":", "") if t[-1] not in "Zz" else t[:-1] + "+0000"
    ),
    "the basic format": lambda t: t[:10].replace("-", "") + t[10:].replace(":", ""),
    "seven decimals": lambda t: t[:19] + ".1234567Z",
    "a comma before the decimals": lambda t: t[:19] + ",5Z",
    "a leading space": lambda t: " " + t,
    "a trailing newline": lambda t: t + "\n",
    "a fullwidth digit": lambda t: "\uff12" + t[1:],
    "an Arabic-Indic digit": lambda t: t[:5] + "\u0660" + t[6:],
    "a date alone": lambda t: t[:10],
    "a week date": lambda t: "2026-W10-1" + t[10:],
    "an ordinal date": lambda t: t[:4] + "-061" + t[10:],
    "a five-digit year": lambda t: "+0" + t,
    "another separator": lambda t: t[:10] + "_" + t[11:],
}


@given(
    local=local_times, offset=offsets, digits=st.integers(0, 6),
    separator=st.sampled_from("Tt "), zulu=st.sampled_from(["Z", "z", ""]),
    mutation=st.sampled_from(sorted(MUTATIONS)),
)  # fmt: skip
def test_what_rfc_3339_does_not_write_is_refused(local, offset, digits, separator, zulu, mutation):
    text = MUTATIONS[mutation](written(local, offset, digits, separator, zulu))
    with pytest.raises(InstantError):
        parse_instant(text)
    with pytest.raises(ValidationError):
        instant_adapter.validate_python(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-02-30T10:00:00Z", "day is out of range"),
        ("2026-13-01T10:00:00Z", "month must be in 1..12"),
        ("2026-03-02T24:00:00Z", "hour must be in 0..23"),
        ("2026-03-02T23:59:60Z", "second must be in 0..59"),
        ("2026-03-02T10:00:00+24:00", "offset"),
        ("2026-03-02T10:00:00.1234567Z", "RFC 3339"),
    ],
)
def test_a_refusal_says_what_is_wrong(text, message):
    with pytest.raises(InstantError, match=message):
        parse_instant(text)


@pytest.mark.parametrize(
    "value", [1772460000, 1772460000.5, True, None, [2026, 3, 2], date(2026, 3, 2)]
)
def test_an_instant_is_a_string_not_a_number_or_a_date(value):
    with pytest.raises(ValidationError, match="RFC 3339"):
        instant_adapter.validate_python(value)


def test_an_instant_from_the_code_is_held_to_the_range_and_needs_its_offset():
    at = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=-6)))
    assert instant_adapter.validate_python(at) == at
    with pytest.raises(ValidationError, match="RFC 3339"):
        instant_adapter.validate_python(datetime(2026, 3, 2, 9, 0))  # noqa: DTZ001
    with pytest.raises(ValidationError, match="an instant from"):
        instant_adapter.validate_python(datetime(1999, 12, 31, tzinfo=UTC))


def test_the_schema_states_the_grammar_and_the_range():
    schema = instant_adapter.json_schema()
    assert (schema["type"], schema["format"]) == ("string", "date-time")
    assert schema["pattern"] == instants.INSTANT_PATTERN
    assert instants.INSTANT_RANGE in schema["description"]


# Days


@given(day=st.dates(min_value=EARLIEST_DAY, max_value=LATEST_DAY))
def test_every_day_in_the_range_is_taken(day):
    assert parse_day(day.isoformat()) == day
    assert day_adapter.validate_python(day.isoformat()) == day


@pytest.mark.parametrize(
    "text",
    ["1899-12-31", "2100-01-01", "0001-01-01", "9999-12-31", "2026-3-2", "20260302",
     "2026-03-02T00:00:00Z", "2026-03-02 ", "+02026-03-02", "2026-W10-1", "2026-061",
     "\uff12026-03-02", "2026-02-30", "2026-03-02\n"],
)  # fmt: skip
def test_another_day_or_another_form_of_one_is_refused(text):
    with pytest.raises(InstantError):
        parse_day(text)
    with pytest.raises(ValidationError):
        day_adapter.validate_python(text)


@example(value=datetime(2026, 3, 2, tzinfo=UTC))
@given(value=st.one_of(st.integers(), st.floats(), st.none()))
def test_a_day_is_a_string_not_a_number_or_an_instant(value):
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        day_adapter.validate_python(value)


# Printed


def test_an_instant_is_printed_on_its_zones_clock_with_the_zones_name():
    noon = datetime(2026, 9, 17, 19, 0, tzinfo=UTC)
    assert printed_instant(noon.astimezone(ZoneInfo("America/Los_Angeles"))) == (
        "2026-09-17 12:00 PDT"
    )
    assert printed_instant(noon) == "2026-09-17 19:00 UTC"


@given(st.integers(min_value=-14 * 60, max_value=14 * 60).filter(bool))
def test_an_instant_with_an_offset_alone_prints_the_offset(minutes):
    """As one read back from JSON: "2026-03-02 09:55 (UTC-06:00)"."""
    zone = timezone(timedelta(minutes=minutes))
    at = datetime(2026, 3, 2, 9, 55, tzinfo=zone)
    sign, size = "+" if minutes > 0 else "-", abs(minutes)
    assert printed_instant(at) == f"2026-03-02 09:55 (UTC{sign}{size // 60:02d}:{size % 60:02d})"
