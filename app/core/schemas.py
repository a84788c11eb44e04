"""Field types shared by the API schemas of every domain."""

import zoneinfo
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

from app.core.identifiers import normalize_ndc, validate_dea_number, validate_npi
from app.core.quantity import QuantityPrecisionError, format_quantity, to_minor

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


# A JSON number arrives as a binary float: past this size its digits are no longer exact.
_LARGEST_EXACT_FLOAT = 1e12


def _parse_quantity(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("a quantity is a decimal string or a number")
    if isinstance(value, float) and abs(value) >= _LARGEST_EXACT_FLOAT:
        raise ValueError("send quantities this large as decimal strings")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        to_minor(text)
    except QuantityPrecisionError as exc:
        raise ValueError(str(exc)) from exc
    return Decimal(text)


_QUANTITY_INPUT_SCHEMA = WithJsonSchema(
    {
        "anyOf": [{"type": "string", "pattern": r"^-?\d+(\.\d{1,3})?$"}, {"type": "number"}],
        "examples": ["12.5"],
    },
    mode="validation",
)

Quantity = Annotated[
    Decimal,
    BeforeValidator(_parse_quantity),
    PlainSerializer(format_quantity, return_type=str),
    _QUANTITY_INPUT_SCHEMA,
    WithJsonSchema({"type": "string", "examples": ["12.5"]}, mode="serialization"),
]
"""A decimal with at most 3 places: a string or number in, a decimal string out."""


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


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused, so a typo never passes silently; instants
    are taken in UTC, so what is answered is what is stored and read back."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _instants_in_utc(cls, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Address(InputModel):
    line1: Annotated[str, Field(min_length=1, max_length=200)]
    line2: Annotated[str | None, Field(max_length=200)] = None
    city: Annotated[str, Field(min_length=1, max_length=100)]
    state: UsState
    postal_code: Annotated[str, Field(pattern=r"^\d{5}(-\d{4})?$")]
