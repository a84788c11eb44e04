"""Instants and days as the API takes them: one grammar each, within one stated range.

An instant is an RFC 3339 date-time with its offset (section 5.6: a ``T``, ``t`` or space
between date and time, seconds always, at most microseconds, ``Z`` or ``+HH:MM``/``-HH:MM``);
a day is an ISO 8601 calendar date, ``YYYY-MM-DD``. Nothing else of ISO 8601 is taken (week or
ordinal dates, the basic format, offsets with seconds or without a colon, numbers of seconds):
a ledger does not guess what a client meant by a time.
"""

import re
from datetime import UTC, date, datetime

EARLIEST_INSTANT = datetime(2000, 1, 1, tzinfo=UTC)
END_OF_INSTANTS = datetime(2100, 1, 1, tzinfo=UTC)
"""Instants are taken from the first (inclusive) up to the second (exclusive). No ledger record
can be older: ketamine entered Schedule III in August 1999, so none of its movements, sessions
or checks came before 2000. The end keeps every year four digits long with room for plans,
expiry dates and schedules; an instant past it is a mistake, never a plan."""
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2099, 12, 31)
"""Days are taken from the first through the second, both inclusive: a patient's date of birth
reaches further back than any ledger record."""

INSTANT_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
INSTANT_GRAMMAR = (
    "an RFC 3339 date-time with its offset, such as 2026-03-02T09:30:00-06:00 or "
    "2026-03-02T15:30:00.25Z (seconds always, at most 6 decimals, an offset of Z or ±HH:MM)"
)
DAY_GRAMMAR = "an ISO 8601 date, YYYY-MM-DD"
INSTANT_RANGE = (
    f"from {EARLIEST_INSTANT:%Y-%m-%dT%H:%M:%SZ} up to, not including, "
    f"{END_OF_INSTANTS:%Y-%m-%dT%H:%M:%SZ}"
)
DAY_RANGE = f"from {EARLIEST_DAY.isoformat()} through {LATEST_DAY.isoformat()}"

_INSTANT = re.compile(INSTANT_PATTERN)
_DAY = re.compile(DAY_PATTERN)


class InstantError(ValueError):
    """Not an instant (or a day) of the grammar, or one out of range: the message says which."""


def parse_instant(text: str) -> datetime:
    """The instant ``text`` writes, in UTC."""
    if _INSTANT.fullmatch(text) is None:
        raise InstantError(INSTANT_GRAMMAR)
    try:
        # 3.11's parser takes the space separator and Z, not their lower-case forms.
        written = datetime.fromisoformat(text.upper())
    except ValueError as exc:  # a month 13, a 30 February, a leap second, an offset of 24 h
        raise InstantError(f"not a date and time: {exc}") from exc
    return checked_instant(written)


def checked_instant(value: datetime) -> datetime:
    """``value`` (aware) in UTC if within the range: for instants another format gave too."""
    if value.utcoffset() is None:
        raise InstantError(INSTANT_GRAMMAR)
    # The year first: comparing an aware datetime near year 1 or 9999 may overflow.
    near = EARLIEST_INSTANT.year - 1 <= value.year <= END_OF_INSTANTS.year
    if not (near and EARLIEST_INSTANT <= value < END_OF_INSTANTS):
        raise InstantError(f"an instant {INSTANT_RANGE}")
    return value.astimezone(UTC)


def parse_day(text: str) -> date:
    """The day ``text`` writes."""
    if _DAY.fullmatch(text) is None:
        raise InstantError(DAY_GRAMMAR)
    try:
        written = date.fromisoformat(text)
    except ValueError as exc:  # a month 13, a 30 February
        raise InstantError(f"not a date: {exc}") from exc
    return checked_day(written)


def checked_day(value: date) -> date:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise InstantError(f"a day {DAY_RANGE}")
    return value


def printed_instant(value: datetime) -> str:
    """An instant as a person reads it on a printed report or in a finding's words, on the
    clock it carries: "2026-03-02 10:15 CST", or "2026-03-02 10:15 (UTC-06:00)" when it
    carries an offset and no zone's name (one read back from JSON)."""
    zone = value.strftime("%Z")
    if zone.startswith("UTC") and zone != "UTC":
        zone = f"({zone})"
    return f"{value:%Y-%m-%d %H:%M} {zone}".strip()
