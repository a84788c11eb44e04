"""Field types shared by the API schemas of every domain."""

import re
import zoneinfo
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from types import UnionType
from typing import Annotated, Any, ClassVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.fields import FieldInfo

from app.core import instants, quantity
from app.core.identifiers import normalize_ndc, validate_dea_number, validate_npi
from app.core.quantity import bounded, format_quantity, parse_quantity, to_minor

US_STATES = frozenset(
    {
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "PR",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "GU",
        "VI",
        "AS",
        "MP",
    }
)


def _parse_quantity(value: Any) -> Decimal:
    if isinstance(value, str):
        return parse_quantity(value)
    if isinstance(value, Decimal):
        # Never from a request (JSON has no decimals): a row read back or an amount computed
        # here, which may exceed what a client sends (a total of mg).
        to_minor(value)
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f'send a quantity as a decimal string such as "{_as_decimal_string(value)}", not a '
            "JSON number, whose digits a binary float may have changed"
        )
    raise ValueError(quantity.GRAMMAR)


def _as_decimal_string(number: float) -> str:
    """``number`` as the string to send instead ("1", not "1.0"), if it is a quantity at all."""
    try:
        return format_quantity(bounded(Decimal(repr(number))))
    except (ValueError, ArithmeticError):  # out of bounds, or an integer too long for repr()
        return "12.5"


_QUANTITY_DESCRIPTION = (
    f"A decimal string: ASCII digits, at most {quantity.SCALE_DIGITS} decimal places, no sign, "
    f"exponent or leading zero, at most {format_quantity(quantity.LARGEST)} (so that a "
    "quantity times a strength, in thousandths, fits 64 bits). Never a JSON number."
)
Quantity = Annotated[
    Decimal,
    BeforeValidator(_parse_quantity),
    PlainSerializer(format_quantity, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": quantity.PATTERN,
            "maxLength": quantity.MAX_LENGTH,
            "description": _QUANTITY_DESCRIPTION,
            "examples": ["12.5"],
        },
        mode="validation",
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?(0|[1-9][0-9]*)(\.[0-9]{1,3})?$",
            "description": "A decimal string without trailing zeros; an amount computed here "
            "(a total of mg) may pass the bound of what is taken.",
            "examples": ["12.5"],
        },
        mode="serialization",
    ),
]
"""A decimal with at most 3 places: a decimal string of :data:`quantity.PATTERN` in, a decimal
string out."""


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


PositiveQuantity = Annotated[Quantity, AfterValidator(_positive)]


def _state(value: str) -> str:
    code = value.strip().upper()
    if code not in US_STATES:
        raise ValueError("a two-letter US state or territory code")
    return code


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("an IANA timezone such as America/Chicago") from exc
    return value


DeaNumber = Annotated[
    str,
    AfterValidator(validate_dea_number),
    Field(examples=["AP5836727"], description="2 letters + 7 digits with a valid check digit."),
]
Npi = Annotated[
    str,
    AfterValidator(validate_npi),
    Field(examples=["1245319599"], description="10 digits, Luhn check over 80840 + 9 digits."),
]
Ndc = Annotated[
    str,
    AfterValidator(normalize_ndc),
    Field(
        examples=["50458-028-02"],
        description="4-4-2, 5-3-2 or 5-4-1 with dashes, or 11 digits; stored as 11 digits.",
    ),
]
UsState = Annotated[str, AfterValidator(_state), Field(examples=["TX"])]
Timezone = Annotated[str, AfterValidator(_timezone), Field(examples=["America/Chicago"])]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def _parse_instant(value: Any) -> datetime:
    if isinstance(value, str):
        return instants.parse_instant(value)
    if isinstance(value, datetime):  # from our own code, never from JSON
        return instants.checked_instant(value)
    raise ValueError(instants.INSTANT_GRAMMAR)


def _parse_day(value: Any) -> date:
    if isinstance(value, str):
        return instants.parse_day(value)
    if isinstance(value, date) and not isinstance(value, datetime):  # from our own code
        return instants.checked_day(value)
    raise ValueError(instants.DAY_GRAMMAR)


Instant = Annotated[
    datetime,
    BeforeValidator(_parse_instant),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": instants.INSTANT_PATTERN,
            "description": f"RFC 3339 with its offset, {instants.INSTANT_RANGE}.",
            "examples": ["2026-03-02T09:30:00-06:00"],
        },
        mode="validation",
    ),
]
"""An instant in, in UTC: an RFC 3339 string within the range of :mod:`app.core.instants`,
in a body or a query alike."""
Day = Annotated[
    date,
    BeforeValidator(_parse_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": instants.DAY_PATTERN,
            "description": f"YYYY-MM-DD, {instants.DAY_RANGE}.",
            "examples": ["2026-03-02"],
        },
        mode="validation",
    ),
]
"""A calendar day in: ``YYYY-MM-DD`` within the range of :mod:`app.core.instants`."""


class MultiLine:
    """Marks a text type whose value may run over several lines: a tab, a line feed or a
    carriage return is taken in it, where every other text refuses them."""


FreeText = Annotated[str, Field(min_length=1, max_length=2000), MultiLine()]
"""A reason, a note, directions: prose, of as many lines as it needs."""

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""The embeddings, overrides and isolates of Unicode's bidirectional algorithm: they reorder
how the text around them is shown, so a lot number or a note could read one way on an
inspector's screen and be stored another. The marks (U+200E, U+200F, U+061C) stay: they only
hint at direction, and names in right-to-left scripts may need them."""
_CONTROL = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\\ud800-\\udfff{BIDI_CONTROLS}]")
_CONTROL_BUT_LINES = re.compile(
    f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\ud800-\\udfff{BIDI_CONTROLS}]"
)
"""Control characters (C0, DEL, C1), the bidirectional controls, and surrogates, which are no
characters on their own and cannot be stored as UTF-8; the second takes tab, line feed and
carriage return."""


def _refuse_control_characters(text: str, *, multi_line: bool) -> None:
    found = (_CONTROL_BUT_LINES if multi_line else _CONTROL).search(text)
    if found is not None:
        character = ord(found.group())
        kind = (
            "a lone surrogate" if 0xD800 <= character <= 0xDFFF
            else "a bidirectional control" if found.group() in BIDI_CONTROLS
            else "a control character"
        )  # fmt: skip
        raise ValueError(f"{kind} (U+{character:04X}) at position {found.start()}; text here "
                         "is printable characters only")  # fmt: skip


def _one_printable_line(text: str) -> str:
    if not text.isprintable():
        _refuse_control_characters(text, multi_line=False)
    return text


QueryText = Annotated[str, AfterValidator(_one_printable_line)]
"""Text in a query parameter: one line without control characters, as in a body (a NUL would
reach the database's text)."""

_ASCII_INTEGER = re.compile(r"[0-9]{1,19}")


def _ascii_integer(value: Any) -> Any:
    if isinstance(value, str) and _ASCII_INTEGER.fullmatch(value) is None:
        raise ValueError("an integer in ASCII digits (no sign, separator or spaces)")
    return value


IN_ASCII_DIGITS = BeforeValidator(_ascii_integer)
"""An integer query parameter's last metadata, after its ``Query(...)``: ASCII digits only,
where pydantic would also take "1_000", " 10" or "+5". (Placed after the bounds, so that the
OpenAPI document states them as its minimum and maximum.)"""


_JSON_TYPES: dict[type, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "true or false"),
    int: ((int,), "a JSON integer"),
    float: ((int, float), "a JSON number"),
}
"""What a field of each type takes: the JSON type itself, never a string ("1_000", "yes") nor
another type pydantic would convert (1.5 or true for an integer)."""


_JSON_NAMES = {str: "a string", bool: "true or false", int: "an integer", float: "a number",
               list: "an array", dict: "an object"}  # fmt: skip


def _sent_as(value: Any) -> str:
    return _JSON_NAMES.get(type(value), "another type")


def _alternatives(annotation: Any) -> Iterator[Any]:
    """What a field's value may be, through ``| None`` and ``Annotated``: each type, and each
    piece of metadata."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        yield from metadata
        yield from _alternatives(base)
    elif get_origin(annotation) in (Union, UnionType):
        for member in get_args(annotation):
            yield from _alternatives(member)
    else:
        yield annotation


def _is_multi_line(field: FieldInfo) -> bool:
    return any(
        isinstance(part, MultiLine) for part in (*field.metadata, *_alternatives(field.annotation))
    )


def _json_type(field: FieldInfo) -> tuple[tuple[type, ...], str] | None:
    kinds = {part for part in _alternatives(field.annotation) if isinstance(part, type)}
    kinds.discard(type(None))
    return _JSON_TYPES.get(kinds.pop()) if len(kinds) == 1 else None


class InputModel(BaseModel):
    """Request bodies, taken as JSON says and no more. Unknown fields are refused, so a typo
    never passes silently; text holds no control character (a NUL, an escape sequence), nor a
    line break but in :data:`FreeText`; a boolean, integer or number field takes that JSON type
    only (see :data:`_JSON_TYPES`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    multi_line_fields: ClassVar[frozenset[str]] = frozenset()
    json_types: ClassVar[dict[str, tuple[tuple[type, ...], str]]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        fields = cls.model_fields.items()
        cls.multi_line_fields = frozenset(name for name, field in fields if _is_multi_line(field))
        cls.json_types = {name: taken for name, field in fields if (taken := _json_type(field))}

    @field_validator("*", mode="before")
    @classmethod
    def _as_sent(cls, value: Any, info: ValidationInfo) -> Any:
        """Before any other check, so that nothing (whitespace stripped, a string converted)
        hides what was sent. Every field of every body passes here, so printable text (nearly
        all) is let through by ``str.isprintable`` alone: it is false for every control
        character and surrogate (and for some harmless characters, then looked at again)."""
        if isinstance(value, str):
            if not value.isprintable():
                multi_line = info.field_name in cls.multi_line_fields
                _refuse_control_characters(value, multi_line=multi_line)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str) and not item.isprintable():
                    _refuse_control_characters(item, multi_line=False)
        if cls.json_types and value is not None:
            json_type = cls.json_types.get(info.field_name or "")
            if json_type is not None and type(value) not in json_type[0]:
                raise ValueError(f"{json_type[1]}, not {_sent_as(value)}")
        return value


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Address(InputModel):
    line1: Annotated[str, Field(min_length=1, max_length=200, examples=["100 Main St"])]
    line2: Annotated[str | None, Field(max_length=200, examples=["Suite 200"])] = None
    city: Annotated[str, Field(min_length=1, max_length=100, examples=["Austin"])]
    state: UsState
    postal_code: Annotated[str, Field(pattern=r"^[0-9]{5}(-[0-9]{4})?$", examples=["78701"])]
