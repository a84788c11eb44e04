"""The ledger's writer (app/ledger/group_commit.py): appends that arrive together commit together,
and one request never fails another. PostgreSQL only: SQLite's writers take turns."""

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.core import bulk, idempotency
from app.core.errors import AppError
from app.ledger import group_commit, service
from app.ledger.balances import InsufficientStock
from app.ledger.group_commit import LedgerWriter
from app.ledger.rows import EventRow
from app.ledger.schemas import EventCreate
from tests.conftest import START
from tests.ledger.support import balance_rows, chain_break, key, stored_chain

pytestmark = pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)

WRITERS = 40


def group_sizes(app: Any) -> tuple[float, float]:
    """How many groups the app's writer committed, and how many appends they held."""
    registry = app.state.metrics.registry
    count = registry.get_sample_value("csledger_ledger_group_size_count") or 0.0
    return count, registry.get_sample_value("csledger_ledger_group_size_sum") or 0.0


async def test_appends_arriving_together_commit_in_fewer_groups_than_requests(app, clinic, probe):
    responses = await asyncio.gather(
        *(clinic.post(clinic.event("receipt", "1")) for _ in range(WRITERS))
    )

    assert [r.status_code for r in responses] == [201] * WRITERS, [r.text for r in responses]
    groups, appends = group_sizes(app)
    assert appends == WRITERS
    assert groups < WRITERS  # some requests waited for a commit in flight, and went together
    assert sorted(r.json()["sequence"] for r in responses) == list(range(1, WRITERS + 1))
    assert await chain_break(probe.engine, clinic.registrant.id) is None
    stored = await balance_rows(probe.engine, clinic.registrant.id)
    assert stored == {key(clinic.vault.id, clinic.lot.id): Decimal(WRITERS)}


async def test_a_request_refused_by_the_stock_is_answered_alone_and_the_group_commits(
    app, clinic, probe
):
    """Each take is checked against what the takes before it in its group left."""
    assert (await clinic.post(clinic.event("receipt", "5"))).status_code == 201
    takes = ["2", "4", "3", "1"]  # 5 on hand: 2 taken, 4 refused (3 left), 3 taken, 1 refused

    writer = app.state.ledger_writer
    outcomes = await _written_together(app, clinic, [clinic.event("administer", q) for q in takes])

    assert [type(o).__name__ for o in outcomes] == ["dict", "InsufficientStock", "dict",
                                                    "InsufficientStock"]  # fmt: skip
    assert writer is app.state.ledger_writer
    assert await balance_rows(probe.engine, clinic.registrant.id) == {
        key(clinic.vault.id, clinic.lot.id): Decimal(0)
    }
    events = await stored_chain(probe.engine, clinic.registrant.id)
    assert [e.quantity for e in events] == [Decimal(5), Decimal(2), Decimal(3)]
    assert await chain_break(probe.engine, clinic.registrant.id) is None
    _, *taken = await transactions(probe, clinic.registrant.id)
    assert len(set(taken)) == 1  # the refusals left the group whole: one transaction


async def test_a_group_whose_statement_fails_is_written_again_one_by_one(app, clinic, probe):
    """A response stored meanwhile under one request's key fails the group's statement: that
    request is refused as in flight, as it would have been alone, and the others commit."""
    scope, taken_key = "test-scope", "stored-meanwhile"
    stored = idempotency.stored_response(
        idempotency.PendingKey(scope, taken_key, "0" * 64), status_code=201, headers={},
        body=b"{}", now=START, ttl=timedelta(hours=1),
    )  # fmt: skip
    async with app.state.database.transaction() as session:
        await bulk.write(session, [idempotency.storing(stored)])
    bodies = [clinic.event("receipt", "1") for _ in range(4)]

    outcomes = await _written_together(
        app, clinic, bodies, extra_rows={2: [idempotency.storing(stored | {"body": b"[]"})]}
    )

    assert isinstance(outcomes[2], idempotency.IdempotencyInFlight)
    assert [isinstance(o, dict) for o in outcomes] == [True, True, False, True]
    committed = Counter(str(e.id) for e in await stored_chain(probe.engine, clinic.registrant.id))
    assert committed == Counter(str(o["id"]) for o in outcomes if isinstance(o, dict))
    assert await chain_break(probe.engine, clinic.registrant.id) is None
    assert len(set(await transactions(probe, clinic.registrant.id))) == 3  # one by one


async def test_a_request_cancelled_while_it_waits_is_written_and_those_behind_it_answered(
    app, clinic, probe, monkeypatch
):
    """Its client is gone, not its append: it commits with its stored response, so a retry
    with its key is replayed. The request behind it writes groups until its own is written."""
    monkeypatch.setattr(group_commit, "MAX_GROUP", 2)
    bodies = [clinic.event("receipt", "1") for _ in range(3)]

    outcomes = await _written_together(app, clinic, bodies, cancelled=frozenset({0, 1}))

    assert [type(o).__name__ for o in outcomes] == ["CancelledError", "CancelledError", "dict"]
    assert len(await stored_chain(probe.engine, clinic.registrant.id)) == 3
    assert len(set(await transactions(probe, clinic.registrant.id))) == 2  # groups of two at most


async def transactions(probe: Any, registrant_id: str) -> list[str]:
    """The transaction that wrote each of the registrant's events, in chain order."""
    async with probe.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT xmin::text FROM ledger_events WHERE registrant_id = :rid"
                 " ORDER BY sequence"), {"rid": uuid.UUID(registrant_id)},
        )  # fmt: skip
        return list(found.scalars())


async def _written_together(
    app: Any,
    clinic: Any,
    bodies: list[dict[str, Any]],
    extra_rows: dict[int, list[bulk.Insert]] | None = None,
    cancelled: frozenset[int] = frozenset(),
) -> list[EventRow | AppError | BaseException]:
    """``bodies`` checked in sessions of their own, then given to a fresh writer while it is
    busy, so that they go as one group, in order (the requests ``cancelled`` are cancelled
    while they wait). Returns each one's row, or its refusal."""
    writer, database = LedgerWriter(), app.state.database
    registrant_id = uuid.UUID(clinic.registrant.id)
    nurse = Principal("nurse-1", "Nora Nurse", frozenset({Role.clinician}),
                      frozenset({registrant_id}))  # fmt: skip
    caller = Caller(principal=nurse, now=START, settings=app.state.settings)
    extra_rows = extra_rows or {}
    checked, turns, queued = ([asyncio.Event() for _ in bodies] for _ in range(3))

    async def write(index: int, body: dict[str, Any]) -> EventRow | AppError:
        async with database.session(write=True) as session:
            event = await service.check(session, EventCreate.model_validate(body), caller)
            checked[index].set()
            await turns[index].wait()
            queued[index].set()  # seen once this request waits for the writer's turn
            try:
                return await writer.write(
                    session, event, lambda row: (row, extra_rows.get(index, []))
                )
            except (InsufficientStock, idempotency.IdempotencyInFlight) as refusal:
                return refusal

    async with writer._turn:  # busy: what arrives waits for the next group
        tasks = [asyncio.create_task(write(n, body)) for n, body in enumerate(bodies)]
        await asyncio.gather(*(event.wait() for event in checked))
        for turn, waiting in zip(turns, queued, strict=True):  # the group keeps their order
            turn.set()
            await waiting.wait()
        for index in cancelled:
            tasks[index].cancel()
    return list(await asyncio.gather(*tasks, return_exceptions=True))
