"""What a ledger event can be, and which way each moves stock: the one table of directions."""

from enum import StrEnum

from app.auth.permissions import Permission


class EventType(StrEnum):
    receipt = "receipt"
    """Stock received from a supplier on an invoice (21 CFR 1304.22(c)); adds at the location."""
    transfer_out = "transfer_out"
    """Stock sent to another registrant (name, address and DEA number of the receiver)."""
    transfer_in = "transfer_in"
    """Stock received from another registrant; references the sender's transfer_out."""
    move = "move"
    """Between two locations of one registrant (a session's withdrawal is one): both sides."""
    dispense = "dispense"
    """Handed to a patient to take away (a prescription fill)."""
    administer = "administer"
    """Given to a patient in the clinic (an infusion, an esketamine device)."""
    waste = "waste"
    """The unused remainder of a dose, witnessed; not a destruction of inventory."""
    return_to_stock = "return_to_stock"
    """Unused stock going back from a session's holding to storage: both sides."""
    destroy = "destroy"
    """Inventory made non-retrievable (DEA Form 41), witnessed by two."""
    loss = "loss"
    """Missing stock (DEA Form 106 when significant), with its date of discovery."""
    theft = "theft"
    """Stolen stock: always reported on DEA Form 106."""
    breakage = "breakage"
    """Witnessed breakage or spillage: documented, not a loss."""
    compound_consume = "compound_consume"
    """A bulk ingredient used by a compounding batch."""
    compound_produce = "compound_produce"
    """Finished units made by a compounding batch."""
    count = "count"  # type: ignore[assignment]  # shadows str.count, as the domain names it
    """A physical count within an inventory; moves nothing."""
    adjust = "adjust"
    """A correction by a compliance officer, with its reason; adds or removes."""
    reversal = "reversal"
    """Undoes exactly one earlier event, named by reference."""


class Direction(StrEnum):
    adds = "adds"
    removes = "removes"
    moves = "moves"
    """Removes at the location and adds at ``to_location``."""
    none = "none"
    signed = "signed"
    """The event says which way (adjust: ``increase`` or ``decrease``)."""
    inverse = "inverse"
    """The opposite of the event it reverses."""


DIRECTIONS: dict[EventType, Direction] = {
    EventType.receipt: Direction.adds,
    EventType.transfer_out: Direction.removes,
    EventType.transfer_in: Direction.adds,
    EventType.move: Direction.moves,
    EventType.dispense: Direction.removes,
    EventType.administer: Direction.removes,
    EventType.waste: Direction.removes,
    EventType.return_to_stock: Direction.moves,
    EventType.destroy: Direction.removes,
    EventType.loss: Direction.removes,
    EventType.theft: Direction.removes,
    EventType.breakage: Direction.removes,
    EventType.compound_consume: Direction.removes,
    EventType.compound_produce: Direction.adds,
    EventType.count: Direction.none,
    EventType.adjust: Direction.signed,
    EventType.reversal: Direction.inverse,
}


class LossKind(StrEnum):
    """DEA Form 106 types of loss."""

    theft = "theft"
    loss_in_transit = "loss_in_transit"
    employee_pilferage = "employee_pilferage"
    other = "other"


class AdjustDirection(StrEnum):
    increase = "increase"
    decrease = "decrease"


WITNESSES_REQUIRED: dict[EventType, int] = {
    EventType.waste: 1,
    EventType.breakage: 1,
    EventType.destroy: 2,
}
"""Witnesses an event needs besides its performer (docs/domain.md#witness): waste witnessed by
another person, destruction by two authorised employees, breakage documented by a witness."""

PERMISSION_OF: dict[EventType, Permission] = {
    EventType.receipt: Permission.inventory,
    EventType.transfer_out: Permission.inventory,
    EventType.transfer_in: Permission.inventory,
    EventType.move: Permission.inventory,
    EventType.count: Permission.counts,
    EventType.dispense: Permission.pharmacy,
    EventType.compound_consume: Permission.pharmacy,
    EventType.compound_produce: Permission.pharmacy,
    EventType.administer: Permission.sessions,
    EventType.waste: Permission.sessions,
    EventType.return_to_stock: Permission.sessions,
    EventType.destroy: Permission.destroy_loss_theft,
    EventType.loss: Permission.destroy_loss_theft,
    EventType.theft: Permission.destroy_loss_theft,
    EventType.breakage: Permission.destroy_loss_theft,
    EventType.adjust: Permission.adjust_reverse_resolve,
    EventType.reversal: Permission.adjust_reverse_resolve,
}
"""Which permission (auth/permissions.py) writing each type of event needs."""
