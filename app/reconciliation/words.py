"""A run's findings in words: what they are about by name, quantities with their unit, and
instants on the registrant's clock, as the printed reports give them ("Count of lot KA2611 at
Vault short by 4 mL (expected 660 mL, counted 656 mL) on 2026-09-17 12:00 PDT").

Pure: the names of whatever a run's facts mention are loaded once for the run, one query per
kind (``gather`` in app/reconciliation/runs.py), and the rules phrase their findings with
them. A patient is named by the registrant's record number, never by name: a discrepancy is
read by whoever may read reports, not only by those who may read patients.
"""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.catalog.names import Names
from app.core.instants import printed_instant
from app.core.quantity import format_quantity

_PLURALS = {"device": "devices"}
"""Units said in the plural beyond one ("2 devices"); mL, g and "each" do not change."""


def quantity_words(value: Decimal, unit: str) -> str:
    """A quantity with its unit: "4 mL", "1 device", "2 devices"."""
    said = unit if value == 1 else _PLURALS.get(unit, unit)
    return f"{format_quantity(value)} {said}".rstrip()


def variance_words(counted: Decimal, expected: Decimal, unit: str) -> str:
    """How a count stands against what was expected: "short by 4 mL", "over by 0.5 mL", or
    "matches"."""
    if counted == expected:
        return "matches"
    kind = "short" if counted < expected else "over"
    return f"{kind} by {quantity_words(abs(counted - expected), unit)}"


def minutes_words(span: timedelta) -> str:
    """A span in whole minutes, rounded down: "1 minute", "95 minutes"."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


def days_words(days: int) -> str:
    return f"{days} day{'' if days == 1 else 's'}"


def code_words(code: str) -> str:
    """A code as a person says it: "iv_infusion" is "iv infusion"."""
    return code.replace("_", " ")


def ordinal(number: int) -> str:
    """A number's place: "1st", "2nd", "3rd", "4th", "11th", "22nd"."""
    teens = 10 <= number % 100 <= 20
    suffix = "th" if teens else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def sentence(text: str) -> str:
    """``text`` beginning with a capital, as a summary does."""
    return text[:1].upper() + text[1:]


def lowered(text: str) -> str:
    """A summary within a sentence: "Theft of 2 mL …" is "theft of 2 mL …"."""
    return text[:1].lower() + text[1:]


@dataclass(frozen=True, slots=True)
class Words:
    """The names a run's facts mention, and the registrant's clock. A row not named (none
    should be: each is the registrant's own) is said by its id."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    names: Names = field(default_factory=Names)

    def location(self, location_id: uuid.UUID | None) -> str:
        named = self.names.locations.get(location_id) if location_id else None
        return named.name if named else f"location {location_id}"

    def lot(self, lot_id: uuid.UUID | None) -> str:
        named = self.names.lots.get(lot_id) if lot_id else None
        return f"lot {named.lot_number if named else lot_id}"

    def product(self, product_id: uuid.UUID | None) -> str:
        named = self.names.products.get(product_id) if product_id else None
        return named.name if named else f"product {product_id}"

    def staff(self, staff_id: str | None) -> str:
        known = _as_id(staff_id) if staff_id else None
        named = self.names.staff.get(known) if known else None
        return named.name if named else f"staff member {staff_id}"

    def patient(self, patient_id: uuid.UUID | None) -> str:
        named = self.names.patients.get(patient_id) if patient_id else None
        return f"patient {named.external_id if named else patient_id}"

    def unit(self, product_id: uuid.UUID | None) -> str:
        return self.names.units.get(product_id, "") if product_id else ""

    def quantity(self, value: Decimal, product_id: uuid.UUID | None) -> str:
        """``value`` in the product's inventory unit: "4 mL"."""
        return quantity_words(value, self.unit(product_id))

    def at(self, instant: datetime) -> str:
        """An instant on the registrant's clock: "2026-09-17 12:00 PDT"."""
        return printed_instant(instant.astimezone(self.zone))

    def day(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()


def _as_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:  # no staff member's id: nobody named
        return None
