"""Exact quantities.

Quantities are stored as integers of a fixed minor unit, thousandths of the inventory unit
(so mg are kept in micrograms), because SQLite keeps NUMERIC as a binary float. The API shows
them as decimal strings and takes them only as decimal strings of one grammar
(:data:`PATTERN`): nothing is guessed from an exponent, a separator, another script's digits
or a binary float.
"""

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

SCALE_DIGITS = 3
MINOR_UNITS = 10**SCALE_DIGITS
_QUANTUM = Decimal(1).scaleb(-SCALE_DIGITS)

WHOLE_DIGITS = 7
"""The bound of every quantity taken: at most seven digits before the point, so at most
9,999,999.999 (of any unit: mL, mg, g, devices, kg, mg/mL). Why seven: an amount in mg is a
quantity times a strength, itself a quantity, and is stored in thousandths in a signed 64-bit
column; (10**7)**2 * 1000 = 10**17 fits (2**63 is about 9.2 * 10**18), eight digits would not.
"""
LIMIT = Decimal(10**WHOLE_DIGITS)
"""The first quantity refused."""
LARGEST = LIMIT - _QUANTUM
PATTERN = rf"^(0|[1-9][0-9]{{0,{WHOLE_DIGITS - 1}}})(\.[0-9]{{1,{SCALE_DIGITS}}})?$"
"""The grammar (ECMA-262 and Python alike): ASCII digits, no leading zero, no sign, at most
three decimals after a point with a digit on each side."""
MAX_LENGTH = WHOLE_DIGITS + 1 + SCALE_DIGITS
GRAMMAR = (
    f'a decimal string of ASCII digits with at most {SCALE_DIGITS} decimal places, such as "12.5"'
    " (no sign, exponent, separator or spaces)"
)

_GRAMMAR = re.compile(PATTERN)
_PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


class QuantityError(ValueError):
    """Not a quantity, or one finer than thousandths or out of bounds: the message says which."""


def parse_quantity(text: str) -> Decimal:
    """The quantity ``text`` writes in the grammar, or a :class:`QuantityError` that says what
    is wrong with it."""
    if _GRAMMAR.fullmatch(text) is None:
        raise QuantityError(_what_is_wrong(text))
    return Decimal(text)


def bounded(value: Decimal) -> Decimal:
    """``value``, a quantity another format gave (a FHIR decimal), if the grammar could have
    written it: finite, not negative, at most thousandths and below :data:`LIMIT`."""
    if not value.is_finite() or value < 0:
        raise QuantityError("a finite quantity, not negative")
    to_minor(value)
    if value >= LIMIT:
        raise QuantityError(f"at most {format_quantity(LARGEST)}")
    return value


def _what_is_wrong(text: str) -> str:
    if text.startswith("-") and _PLAIN_DECIMAL.fullmatch(text[1:]) is not None:
        return "a quantity is never negative (the type of a movement says which way it goes)"
    if _PLAIN_DECIMAL.fullmatch(text) is None:
        return GRAMMAR
    whole, _, fraction = text.partition(".")
    if len(fraction) > SCALE_DIGITS:
        return f"at most {SCALE_DIGITS} decimal places"
    if len(whole) > 1 and whole.startswith("0"):
        return "no leading zeros"
    return f"at most {format_quantity(LARGEST)}"


def to_minor(value: Decimal | int | str) -> int:
    """Minor units of ``value``; refuses anything finer than the scale rather than rounding."""
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise QuantityError(f"{value!r} is not a number") from exc
    if not amount.is_finite():
        raise QuantityError("quantity must be finite")
    scaled = amount.scaleb(SCALE_DIGITS)
    if scaled != scaled.to_integral_value():
        raise QuantityError(f"at most {SCALE_DIGITS} decimal places")
    return int(scaled)


def rounded(value: Decimal) -> Decimal:
    """``value`` at the scale, half to even: for computed amounts (mg from a strength, mg of
    base from mg of a salt), where exact input is not the question."""
    return value.quantize(_QUANTUM, ROUND_HALF_EVEN)


def from_minor(minor: int) -> Decimal:
    return (Decimal(minor).scaleb(-SCALE_DIGITS)).quantize(_QUANTUM)


def format_quantity(value: Decimal) -> str:
    """The decimal string shown to clients: no exponent, no trailing zeros ("12.5", "100")."""
    text = format(value.quantize(_QUANTUM), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_minor(minor: int) -> str:
    """A stored quantity (minor units) as :func:`format_quantity` shows it, without making a
    decimal: what a report of a million rows formats."""
    whole, part = divmod(abs(minor), MINOR_UNITS)
    sign = "-" if minor < 0 else ""
    return f"{sign}{whole}.{part:0{SCALE_DIGITS}d}".rstrip("0") if part else f"{sign}{whole}"
