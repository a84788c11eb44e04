"""Helpers of the ledger tests: appending, and reading what was committed from the tables."""

import uuid
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.ledger import chain
from app.ledger.models import GENESIS_HASH, Balance, LedgerEvent, Posting
from app.worker import Worker
from tests.conftest import bearer
from tests.ledger.conftest import Clinic

Key = tuple[uuid.UUID, uuid.UUID]
"""(location id, lot id)."""


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def key(location_id: uuid.UUID | str, lot_id: uuid.UUID | str) -> Key:
    return _uuid(location_id), _uuid(lot_id)


async def stored_chain(engine: AsyncEngine, registrant_id: uuid.UUID | str) -> list[LedgerEvent]:
    """The registrant's events as stored, in chain order."""
    async with AsyncSession(engine) as session:
        statement = (
            select(LedgerEvent)
            .where(LedgerEvent.registrant_id == _uuid(registrant_id))
            .order_by(LedgerEvent.sequence)
        )
        return list((await session.scalars(statement)).all())


async def chain_break(engine: AsyncEngine, registrant_id: uuid.UUID | str) -> chain.Break | None:
    """Where the stored chain first fails to verify, or None."""
    return chain.first_break(await stored_chain(engine, registrant_id), genesis=GENESIS_HASH)


async def balance_rows(engine: AsyncEngine, registrant_id: uuid.UUID | str) -> dict[Key, Decimal]:
    """The ``ledger_balances`` rows, zeros included."""
    statement = select(Balance.location_id, Balance.lot_id, Balance.quantity).where(
        Balance.registrant_id == _uuid(registrant_id)
    )
    async with engine.connect() as connection:
        return {(loc, lot): quantity for loc, lot, quantity in await connection.execute(statement)}


async def posting_sums(engine: AsyncEngine, registrant_id: uuid.UUID | str) -> dict[Key, Decimal]:
    """The sum of the postings per (location, lot): what the balances must equal."""
    total = func.sum(Posting.delta)  # typed like its column: read back as a Decimal
    statement = (
        select(Posting.location_id, Posting.lot_id, total)
        .where(Posting.registrant_id == _uuid(registrant_id))
        .group_by(Posting.location_id, Posting.lot_id)
    )
    async with engine.connect() as connection:
        return {(loc, lot): quantity for loc, lot, quantity in await connection.execute(statement)}


async def lowest_running_balance(
    engine: AsyncEngine, registrant_id: uuid.UUID | str
) -> dict[Key, Decimal]:
    """Per (location, lot), the lowest balance reached replaying the postings in chain order."""
    statement = (
        select(Posting.location_id, Posting.lot_id, Posting.delta)
        .join(LedgerEvent, LedgerEvent.id == Posting.event_id)
        .where(Posting.registrant_id == _uuid(registrant_id))
        .order_by(LedgerEvent.sequence)
    )
    running: dict[Key, Decimal] = defaultdict(Decimal)
    lowest: dict[Key, Decimal] = {}
    async with engine.connect() as connection:
        for loc, lot, delta in await connection.execute(statement):
            running[loc, lot] += delta
            lowest[loc, lot] = min(lowest.get((loc, lot), running[loc, lot]), running[loc, lot])
    return lowest


def reversal_body(registrant_id: str, event_id: str, occurred_at: str) -> dict[str, str]:
    return {
        "registrant_id": registrant_id,
        "type": "reversal",
        "reverses_event_id": event_id,
        "reason": "entered against the wrong location",
        "occurred_at": occurred_at,
    }


async def appended(clinic: Clinic, body: dict[str, Any], token: str | None = None) -> Any:
    """POST ``body`` as an event (by the nurse unless ``token``), expecting 201; its JSON."""
    response = await clinic.post(body, token)
    assert response.status_code == 201, response.text
    return response.json()


def count_body(
    registrant_id: str,
    location_id: str,
    lot_id: str,
    counter_id: str,
    counted: str,
    when: datetime | str,
    kind: str = "ad_hoc",
) -> dict[str, Any]:
    return {
        "registrant_id": registrant_id, "type": "count", "location_id": location_id,
        "lot_id": lot_id, "quantity": counted,
        "occurred_at": when if isinstance(when, str) else when.isoformat(),
        "count": {"inventory_id": str(uuid.uuid4()), "inventory_kind": kind,
                  "taken_at": "close_of_business", "exactness": "exact",
                  "counted_by": counter_id},
    }  # fmt: skip


async def stolen(clinic: Clinic, app: Any, clock: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two mL of ten received stolen, discovered at 17:00 on Friday 27 February in Chicago;
    the theft and the discrepancy the worker opened for it."""
    await appended(clinic, clinic.event("receipt", "10"))
    theft = await appended(clinic, clinic.event(
        "theft", "2", loss={"discovered_at": "2026-02-27T23:00:00Z", "kind": "theft"},
        occurred_at="2026-02-27T18:00:00Z",
    ))  # fmt: skip
    await Worker(app.state.database, app.state.settings, clock, periodic=()).run_until_idle()
    listed = await clinic.client.get("/v1/discrepancies", params={
        "registrant_id": clinic.registrant.id}, headers=bearer(clinic.officer_token))  # fmt: skip
    [found] = listed.json()["items"]
    return theft, found
