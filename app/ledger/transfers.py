"""Transfers between registrants: the sender's ``transfer_out`` and the receiver's
``transfer_in`` that names it. A pending transfer is visible to both ends: the receiver finds
it by its own DEA number on the sender's event."""

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict
from app.core.tenancy import invalid
from app.ledger.models import LedgerEvent
from app.ledger.types import EventType
from app.registry.models import Registrant


class AlreadyReceived(Conflict):
    slug = "transfer-already-received"
    title = "Transfer already received"
    description = "The transfer_out named by transfer_event_id has been received already."


def _addressed_to(receiver: Registrant) -> Any:
    return LedgerEvent.counterparty["dea_number"].as_string() == receiver.dea_number


async def sent_to(
    session: AsyncSession, transfer_event_id: uuid.UUID, *, receiver: Registrant
) -> LedgerEvent:
    """The sender's transfer_out addressed to ``receiver`` and not yet received."""
    sent = await session.scalar(
        select(LedgerEvent).where(
            LedgerEvent.id == transfer_event_id,
            LedgerEvent.type == EventType.transfer_out,
            LedgerEvent.registrant_id != receiver.id,
            _addressed_to(receiver),
        )
    )
    if sent is None:
        raise invalid("#/transfer_event_id", "transfer sent to this registrant")
    received = await session.scalar(
        select(LedgerEvent.id).where(LedgerEvent.transfer_event_id == sent.id)
    )
    if received is not None:
        raise AlreadyReceived(f"transfer {sent.id} was received as event {received}")
    return sent


def sender_as_counterparty(sent: LedgerEvent) -> dict[str, Any]:
    """Who sent it, from the sender's own snapshot (name, address and DEA number)."""
    sender: dict[str, Any] = sent.snapshot["registrant"]
    return {
        "name": sender["name"],
        "address": sender["address"],
        "dea_number": sender["dea_number"],
    }


def incoming(receiver: Registrant) -> Select[LedgerEvent]:
    """Transfers sent to ``receiver`` that it has not yet received."""
    received = select(LedgerEvent.transfer_event_id).where(
        LedgerEvent.transfer_event_id.is_not(None)
    )
    return select(LedgerEvent).where(
        LedgerEvent.type == EventType.transfer_out,
        LedgerEvent.registrant_id != receiver.id,
        _addressed_to(receiver),
        LedgerEvent.id.not_in(received),
    )
