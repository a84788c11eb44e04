"""Reversals: an event undone by another that names it, never erased.

Separation of duties (21 CFR 1301.71, controls against diversion; docs/domain.md, "Reversal
and separation of duties"): nobody reverses their own work alone. An integration may withdraw
a record it sent itself, which its source declares entered in error, and nothing else.
"""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.principal import Principal
from app.core.errors import AppError, Conflict
from app.core.tenancy import invalid, referenced
from app.ledger import balances, rows
from app.ledger.models import LedgerEvent, Posting
from app.ledger.rows import NewEvent, author_of
from app.ledger.schemas import EventCreate
from app.ledger.types import PERMISSION_OF, EventType
from app.registry.models import Registrant, Staff
from app.registry.people import owned_staff


class AlreadyReversed(Conflict):
    slug = "already-reversed"
    title = "Already reversed"
    description = "The event named by reverses_event_id has been reversed already."


class ReversalByItsAuthor(AppError):
    slug = "reversal-by-its-author"
    status = 403
    title = "Reversal of one's own event"
    description = (
        "Nobody reverses their own work alone: another person reverses it, or the reversal "
        "names a co-signer in witness_ids, who confirms with their own token."
    )


async def reversal(
    session: AsyncSession,
    data: EventCreate,
    registrant: Registrant,
    caller: Caller,
    own_staff: Staff | None,
) -> tuple[NewEvent, list[balances.Change]]:
    """The reversal's event and the changes that undo its target's postings."""
    assert data.reverses_event_id is not None
    target = await referenced(session, LedgerEvent, data.reverses_event_id,
                              registrant_id=registrant.id, pointer="#/reverses_event_id",
                              what="ledger event")  # fmt: skip
    withdrawn_by_its_sender = _sent_by(target, caller) and caller.principal.is_integration
    if withdrawal_of_a_record(data, caller.principal) and not withdrawn_by_its_sender:
        caller.principal.require(PERMISSION_OF[data.type])
    if target.type == EventType.reversal:
        raise invalid("#/reverses_event_id", "reversible event (a reversal is not)")
    cosigners = await owned_staff(session, data.witness_ids, registrant_id=registrant.id,
                                  pointer="#/witness_ids")  # fmt: skip
    if not withdrawn_by_its_sender:
        _check_separation(target, caller.principal, own_staff, cosigners)
    if await session.scalar(
        select(LedgerEvent.id).where(LedgerEvent.reverses_event_id == target.id)
    ):
        raise AlreadyReversed(f"event {target.id} has been reversed already")
    postings = (await session.scalars(select(Posting).where(Posting.event_id == target.id))).all()
    row = rows.reversal_event(target, data, author_of(data, caller), own_staff, cosigners)
    undo = [balances.Change(p.registrant_id, p.location_id, p.lot_id, p.product_id, -p.delta)
            for p in postings]  # fmt: skip
    return row, undo


def withdrawal_of_a_record(data: EventCreate, principal: Principal) -> bool:
    """An integration reversing: allowed (without the permission to reverse) only for a record
    it sent itself, which its source declares entered in error; checked once the event is
    read (:func:`_sent_by`)."""
    return (
        data.type is EventType.reversal
        and principal.is_integration
        and not principal.can(PERMISSION_OF[EventType.reversal])
    )


def _sent_by(target: LedgerEvent, caller: Caller) -> bool:
    return target.is_record and target.principal_subject == caller.principal.subject


def authored_by(target: LedgerEvent, subject: str, staff_id: uuid.UUID | None) -> bool:
    """Whether ``target`` is the work of this person: they recorded it (their token's
    subject), or it names them as its performer."""
    performed = staff_id is not None and target.performed_by == staff_id
    return target.principal_subject == subject or performed


def _check_separation(
    target: LedgerEvent, principal: Principal, own_staff: Staff | None, cosigners: list[Staff]
) -> None:
    """Separation of duties (21 CFR 1301.71, controls against diversion): the author of an
    event reverses it only with a co-signer, a second person who confirms with their own
    token (as a witness confirms a waste). An integration withdrawing its own record is not
    asked (its source declared it entered in error)."""
    if not authored_by(target, principal.subject, own_staff.id if own_staff else None):
        return
    others = [staff for staff in cosigners if own_staff is None or staff.id != own_staff.id]
    if not others:
        raise ReversalByItsAuthor(
            "you recorded or performed this event: another person reverses it, or name a "
            "co-signer in witness_ids who confirms with their own token"
        )
