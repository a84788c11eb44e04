"""Exact quantities.

Quantities are stored as integers of a fixed minor unit, thousandths of the inventory unit
(so mg are kept in micrograms), because SQLite keeps NUMERIC as a binary float. The API shows
them as decimal strings and takes strings or numbers.
"""

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

SCALE_DIGITS = 3
MINOR_UNITS = 10**SCALE_DIGITS
_QUANTUM = Decimal(1).scaleb(-SCALE_DIGITS)


class QuantityPrecisionError(ValueError):
    pass


def to_minor(value: Decimal | int | str) -> int:
    """Minor units of ``value``; refuses anything finer than the scale rather than rounding."""
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise QuantityPrecisionError(f"{value!r} is not a number") from exc
    if not amount.is_finite():
        raise QuantityPrecisionError("quantity must be finite")
    scaled = amount.scaleb(SCALE_DIGITS)
    if scaled != scaled.to_integral_value():
        raise QuantityPrecisionError(f"at most {SCALE_DIGITS} decimal places")
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
