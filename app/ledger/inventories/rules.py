"""What an inventory demands of its counts, and when it may be signed (pure; the law is in
docs/domain.md#inventory)."""

from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol, TypeVar

from app.core.errors import AppError, Conflict, FieldError, Member, PermissionDenied
from app.ledger.schemas import CountExactness

EXACT_ABOVE_UNITS = 1000
"""Schedules III to V may be estimated, but an opened container of more than 1,000 tablets or
capsules is counted exactly (21 CFR 1304.11(e)(3))."""

EXACT_SCHEDULES = frozenset({"2", "2N"})
"""Schedule II is counted exactly, always (1304.11(e)(1)(iii))."""


class Counted(Protocol):
    @property
    def counted(self) -> Decimal | None: ...
    @property
    def ledger_quantity(self) -> Decimal: ...


C = TypeVar("C", bound=Counted)


def exact_required(
    *, state_requires: bool, schedule: str, inventory_unit: str, package_size: Decimal
) -> bool:
    """Whether a lot of this product must be counted exactly: the registrant's state says so
    for every schedule, the schedule is II, or its container holds more than 1,000 units."""
    large = inventory_unit == "each" and package_size > EXACT_ABOVE_UNITS
    return state_requires or schedule in EXACT_SCHEDULES or large


def variance(counted: Decimal | None, held: Decimal) -> Decimal | None:
    """What was found over what the ledger held (negative: short); none until counted."""
    return None if counted is None else counted - held


def witness_required(entries: Iterable[Counted], *, always: bool) -> bool:
    """A witness co-signs every inventory where the setting says so, and any whose count
    differs from the ledger anywhere: a variance may be a loss (21 CFR 1301.76(b)), and two
    people attest to what was found, as for waste (docs/domain.md#witness)."""
    return always or any(variance(e.counted, e.ledger_quantity) not in (None, 0) for e in entries)


def uncounted(entries: Iterable[C]) -> list[C]:
    return [entry for entry in entries if entry.counted is None]


class ExactCountRequired(AppError):
    slug = "exact-count-required"
    status = 422
    title = "An exact count is required"
    description = (
        "This lot is counted exactly: the registrant's state requires exact counts of every "
        "schedule, the substance is Schedule II, or its container holds more than 1,000 units "
        "(21 CFR 1304.11(e)(3)). Send exactness exact."
    )


def check_exactness(exactness: CountExactness, *, required: bool) -> None:
    if required and exactness is CountExactness.estimated:
        detail = "this lot is counted exactly"
        raise ExactCountRequired(detail, errors=[FieldError(pointer="#/exactness", detail=detail)])


class InventoryNotOpen(Conflict):
    slug = "inventory-signed"
    title = "The inventory is signed"
    description = "A signed inventory is a record: it is neither counted again nor signed twice."


class InventoryVoided(Conflict):
    slug = "inventory-voided"
    title = "The inventory is voided"
    description = "A voided inventory is kept as it was; take the inventory again."


class InventoryUncounted(Conflict):
    slug = "inventory-uncounted"
    title = "Lots not yet counted"
    description = (
        "Every lot on the count sheet is counted (zero where it is not there) before the "
        "inventory is witnessed or signed; uncounted names them."
    )
    members = {
        "uncounted": Member(
            "array",
            "Lots not yet counted: each its location_id and lot_id.",
            items={
                "type": "object",
                "properties": {"location_id": {"type": "string"}, "lot_id": {"type": "string"}},
            },
        )
    }


class WitnessRequired(Conflict):
    slug = "inventory-witness-required"
    title = "A witness signs first"
    description = (
        "This inventory is co-signed by a witness (the setting inventory_witness_required, or a "
        "count that differs from the ledger) before whoever took it signs: POST "
        "/v1/inventories/{id}/witness with the witness's own token."
    )


class NotTheTaker(PermissionDenied):
    slug = "not-inventory-taker"
    title = "Only whoever took the inventory signs it"
    description = "The inventory is signed by the staff member who started it, with their token."


class InvalidWitness(Conflict):
    slug = "invalid-inventory-witness"
    title = "Not a witness of this inventory"
    description = (
        "A witness is an active staff member of the registrant, by their own token, other "
        "than whoever took the inventory."
    )
