"""A witness confirms, with their own token, the event that names them (a waste, a
destruction, a co-signed reversal)."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.core.db import dialect_insert
from app.core.errors import Conflict
from app.ledger.models import LedgerEvent, WitnessConfirmation
from app.registry.people import staff_of_subject


class NotAWitness(Conflict):
    slug = "not-a-witness"
    title = "Not a witness of this event"
    description = "Only a staff member the event names as witness, by their own token, confirms."


async def confirm_witness(session: AsyncSession, event: LedgerEvent, caller: Caller) -> None:
    """The calling staff member confirms they witnessed ``event``."""
    staff = await staff_of_subject(
        session, registrant_id=event.registrant_id, subject=caller.principal.subject
    )
    if staff is None or str(staff.id) not in event.witness_ids:
        raise NotAWitness("your token does not belong to a witness named by this event")
    if staff.id == event.performed_by:
        raise NotAWitness("the performer cannot witness their own event")
    await session.execute(
        dialect_insert(session)(WitnessConfirmation)
        .values(
            event_id=event.id,
            staff_id=staff.id,
            registrant_id=event.registrant_id,
            subject=caller.principal.subject,
            confirmed_at=caller.now,
        )
        .on_conflict_do_nothing(index_elements=["event_id", "staff_id"])
    )
