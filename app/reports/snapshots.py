"""Reading an event's snapshot: the DEA-record facts as they were when it happened."""

from decimal import Decimal
from functools import lru_cache
from typing import Any

from app.core.quantity import format_quantity
from app.reports.tabular import Column

PRODUCT_COLUMNS: list[Column] = [
    Column("substance", "Substance", printed=False),
    Column("product", "Product"),
    Column("ndc", "NDC", "NDC, or the compound code of a compounded product"),
    Column("dosage_form", "Form"),
    Column("strength", "Strength"),
]
"""A product as every record names it (:func:`product_fields`; each report places the unit
beside its quantities)."""


def product_fields(product: dict[str, Any]) -> dict[str, Any]:
    """The substance, name, code, form, strength and unit every record names."""
    return {
        "substance": product["substance"],
        "product": product["name"],
        "ndc": product["ndc"] or product["compound_code"],
        "dosage_form": product["dosage_form"],
        "strength": f"{quantity(product['strength'])} {product['strength_unit']}",
        "unit": product["inventory_unit"],
    }


@lru_cache(maxsize=1024)
def quantity(stored: str) -> str:
    """A snapshot's decimal ("100.000") as the API shows quantities ("100")."""
    return format_quantity(Decimal(stored))


def address_line(address: dict[str, Any] | None) -> str | None:
    """A postal address on one line, as a printed record shows it."""
    if not address:
        return None
    street = ", ".join(part for part in (address.get("line1"), address.get("line2")) if part)
    return f"{street}, {address['city']}, {address['state']} {address['postal_code']}"
