"""Compliance rules a movement can break (pure functions over the facts of one event).

An instruction (an action taken now) that breaks one is refused with the rule's own problem
type, unless it carries an ``override_reason``; a record (a fact reported after it happened) is
stored with the rules it breaks, for reconciliation to flag
(docs/adr/0007-instructions-and-records.md). Integrity rules (references, quantities, stock) live
in the service and refuse both.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from app.catalog.substances import Substance
from app.core.errors import AppError
from app.core.identifiers import validate_dea_number
from app.core.overrides import RuleBook
from app.ledger.types import WITNESSES_REQUIRED, EventType


class Rule(StrEnum):
    lot_expired = "lot_expired"
    registration_expired = "registration_expired"
    schedule_not_authorised = "schedule_not_authorised"
    witness_missing = "witness_missing"
    witness_is_performer = "witness_is_performer"
    counterparty_dea_invalid = "counterparty_dea_invalid"
    occurred_in_future = "occurred_in_future"
    transfer_quantity_mismatch = "transfer_quantity_mismatch"
    esketamine_dispensed = "esketamine_dispensed"
    invoice_received_before = "invoice_received_before"


NEVER_OVERRIDDEN = frozenset({Rule.esketamine_dispensed})
"""The Spravato REMS: esketamine is never dispensed for home use, whatever the reason given."""


@dataclass(frozen=True, slots=True)
class Facts:
    type: EventType
    occurred_at: datetime
    occurred_on: date
    """The registrant's day at occurred_at: the day an expiry date is read against."""
    now: datetime
    future_skew: timedelta
    lot_expires_on: date
    registration_expires_on: date
    authorised_schedules: frozenset[str]
    product_schedule: str
    product_substance: str
    performer_id: uuid.UUID | None
    witness_ids: tuple[uuid.UUID, ...]
    counterparty_dea_number: str | None
    quantity: Decimal
    transfer_sent_quantity: Decimal | None
    invoice_received_before: bool = False
    """A receipt whose invoice (the supplier's DEA number, the invoice's number, the lot) is
    on the ledger already, and not reversed."""


_TO_PATIENTS = frozenset({EventType.dispense, EventType.administer, EventType.move})
_WITH_COUNTERPARTY = frozenset({EventType.receipt, EventType.transfer_in, EventType.transfer_out})


def _lot_expired(f: Facts) -> bool:
    return f.type in _TO_PATIENTS and f.lot_expires_on < f.occurred_on


def _registration_expired(f: Facts) -> bool:
    return f.registration_expires_on < f.occurred_on


def _schedule_not_authorised(f: Facts) -> bool:
    """A registration for "3" covers "3N" (non-narcotic) substances too."""
    covering = {f.product_schedule, f.product_schedule.removesuffix("N")}
    return f.authorised_schedules.isdisjoint(covering)


def _witness_missing(f: Facts) -> bool:
    independent = set(f.witness_ids) - {f.performer_id}
    return len(independent) < WITNESSES_REQUIRED.get(f.type, 0)


def _witness_is_performer(f: Facts) -> bool:
    return f.performer_id is not None and f.performer_id in f.witness_ids


def _counterparty_dea_invalid(f: Facts) -> bool:
    if f.type not in _WITH_COUNTERPARTY:
        return False
    try:
        validate_dea_number(f.counterparty_dea_number or "")
    except ValueError:
        return True
    return False


def _occurred_in_future(f: Facts) -> bool:
    return f.occurred_at > f.now + f.future_skew


def _transfer_quantity_mismatch(f: Facts) -> bool:
    """What arrives should be what was sent; a shortfall is a loss in transit to explain."""
    return f.transfer_sent_quantity is not None and f.quantity != f.transfer_sent_quantity


def _esketamine_dispensed(f: Facts) -> bool:
    return f.type is EventType.dispense and f.product_substance == Substance.esketamine


def _invoice_received_before(f: Facts) -> bool:
    """The same invoice received twice is one shipment counted twice, unless a second
    delivery really came under one invoice number (say so in override_reason)."""
    return f.type is EventType.receipt and f.invoice_received_before


CHECKS: dict[Rule, Callable[[Facts], bool]] = {
    Rule.lot_expired: _lot_expired,
    Rule.registration_expired: _registration_expired,
    Rule.schedule_not_authorised: _schedule_not_authorised,
    # The more specific rule first: its problem type is the one an instruction is refused with.
    Rule.witness_is_performer: _witness_is_performer,
    Rule.witness_missing: _witness_missing,
    Rule.counterparty_dea_invalid: _counterparty_dea_invalid,
    Rule.occurred_in_future: _occurred_in_future,
    Rule.transfer_quantity_mismatch: _transfer_quantity_mismatch,
    Rule.esketamine_dispensed: _esketamine_dispensed,
    Rule.invoice_received_before: _invoice_received_before,
}


def broken_rules(facts: Facts) -> list[Rule]:
    return [rule for rule, breaks in CHECKS.items() if breaks(facts)]


class ComplianceRuleBroken(AppError):
    """Base of the per-rule problems; never raised itself."""

    slug = "compliance-rule-broken"
    status = 422
    title = "Compliance rule broken"
    description = "The action breaks a compliance rule; a permitted role may send override_reason."


_DESCRIBED: dict[Rule, tuple[str, str]] = {
    Rule.lot_expired: ("Lot expired",
                               "The lot expired before the movement's date."),
    Rule.registration_expired: ("Registration expired",
                                        "The registrant's DEA registration had expired."),
    Rule.schedule_not_authorised: ("Schedule not authorised",
        "The registration does not cover the product's schedule."),
    Rule.witness_missing: ("Witness missing",
                                   "The event needs more witnesses other than the performer."),
    Rule.witness_is_performer: ("Witness is the performer",
                                        "A witness must be someone other than the performer."),
    Rule.counterparty_dea_invalid: ("Counterparty DEA number invalid",
        "A receipt or transfer needs the other party's valid DEA number."),
    Rule.occurred_in_future: ("Occurred in the future",
                                      "occurred_at is later than now beyond the allowed skew."),
    Rule.transfer_quantity_mismatch: ("Transfer quantity mismatch",
        "A transfer_in receives a different quantity than its transfer_out sent."),
    Rule.esketamine_dispensed: ("Esketamine dispensed",
        "Esketamine devices are administered in a REMS-certified setting, never dispensed for "
        "home use; no override allows it."),
    Rule.invoice_received_before: ("Invoice received before",
        "A receipt of this supplier's invoice for this lot is on the ledger already: the same "
        "shipment counted twice? Send override_reason if a second delivery came under it."),
}  # fmt: skip
"""Each rule's problem: its title and description."""

BOOK = RuleBook.of(ComplianceRuleBroken, _DESCRIBED, never=NEVER_OVERRIDDEN)
