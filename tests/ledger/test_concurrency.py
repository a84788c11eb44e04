"""Concurrent writers through the API, each request its own transaction.

Balances are changed by conditional updates and the chain head is locked until commit, so
racing requests never take stock below zero, nor fork or gap a registrant's chain.
"""

import asyncio
from collections import Counter
from decimal import Decimal

import pytest

from app.ledger.models import GENESIS_HASH
from tests.factories import assert_problem
from tests.ledger.support import (
    appended,
    balance_rows,
    chain_break,
    key,
    lowest_running_balance,
    posting_sums,
    stored_chain,
)

STOCK, TAKERS = 12, 30
WRITERS = {"postgresql": 40, "sqlite": 8}
"""Concurrent appends per dialect: SQLite serialises writers, so fewer keep the test quick."""


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_concurrent_takes_never_overdraw_and_each_acknowledged_one_is_stored_once(
    clinic, probe
):
    received = await clinic.post(clinic.event("receipt", str(STOCK)))
    assert received.status_code == 201, received.text

    responses = await asyncio.gather(
        *(clinic.post(clinic.event("administer", "1")) for _ in range(TAKERS))
    )

    taken = [r for r in responses if r.status_code == 201]
    assert len(taken) == STOCK
    for response in responses:
        if response.status_code != 201:
            assert_problem(response, 409, "insufficient-stock")
    rid, vault_lot = clinic.registrant.id, key(clinic.vault.id, clinic.lot.id)
    assert await balance_rows(probe.engine, rid) == {vault_lot: Decimal(0)}
    assert await posting_sums(probe.engine, rid) == {vault_lot: Decimal(0)}
    assert await lowest_running_balance(probe.engine, rid) == {vault_lot: Decimal(0)}
    stored = Counter(str(event.id) for event in await stored_chain(probe.engine, rid))
    assert stored == Counter([received.json()["id"], *(r.json()["id"] for r in taken)])


async def test_concurrent_appends_to_one_chain_neither_gap_nor_fork(clinic, probe, dialect):
    writers = WRITERS[dialect]
    locations = [clinic.vault.id, clinic.room.id]
    responses = await asyncio.gather(
        *(
            clinic.post(clinic.event("receipt", "1", location_id=locations[n % 2]))
            for n in range(writers)
        )
    )

    assert [r.status_code for r in responses] == [201] * writers, [r.text for r in responses]
    events = await stored_chain(probe.engine, clinic.registrant.id)
    assert [e.sequence for e in events] == list(range(1, writers + 1))
    assert [e.prev_hash for e in events] == [GENESIS_HASH, *(e.hash for e in events[:-1])]
    assert sorted(r.json()["sequence"] for r in responses) == list(range(1, writers + 1))
    assert await chain_break(probe.engine, clinic.registrant.id) is None


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_concurrent_moves_in_opposite_directions_do_not_deadlock(clinic, probe):
    vault, room = clinic.vault.id, clinic.room.id
    await appended(clinic, clinic.event("receipt", "20"))
    await appended(clinic, clinic.event("move", "10", to_location_id=room))
    ways = [(vault, room), (room, vault)]

    responses = await asyncio.gather(
        *(
            clinic.post(clinic.event("move", "1", location_id=start, to_location_id=end))
            for start, end in ways * (TAKERS // 2)
        )
    )

    assert [r.status_code for r in responses] == [201] * TAKERS, [r.text for r in responses]
    assert await clinic.balance() == {vault: "10", room: "10"}
    assert await chain_break(probe.engine, clinic.registrant.id) is None
