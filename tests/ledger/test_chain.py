"""The hash chain: the same hashes on both dialects, tampering caught and named, and the
append-only triggers that make tampering take an owner's or a superuser's hand."""

import itertools
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, insert, inspect, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.core.clock import FrozenClock
from app.core.config import Environment, Settings
from app.ledger import chain, rows
from app.ledger.models import LedgerEvent, Posting
from app.main import create_app
from app.models import metadata
from tests.conftest import START
from tests.ledger.conftest import Clinic
from tests.ledger.support import appended, chain_break, reversal_body, stored_chain

APPEND_ONLY = ("ledger_events", "ledger_postings", "ledger_witness_confirmations")


# Identical hashes on both dialects


async def copy_rows(source_url: str, target_url: str) -> None:
    """Every row of ``source`` into the empty, migrated ``target``, through the models' types."""
    source, target = create_async_engine(source_url), create_async_engine(target_url)
    try:
        async with source.connect() as read, target.begin() as write:
            present = set(await read.run_sync(lambda c: inspect(c).get_table_names()))
            for table in metadata.sorted_tables:
                if table.name in present:
                    rows = (await read.execute(select(table))).mappings().all()
                    if rows:
                        await write.execute(insert(table), [dict(row) for row in rows])
    finally:
        await source.dispose()
        await target.dispose()


@dataclass
class Twin:
    clinic: Clinic
    engine: AsyncEngine


@pytest.fixture
async def sqlite_twin(
    clinic: Clinic, database_url: str, sqlite_template: Path, tmp_path: Path
) -> AsyncIterator[Twin]:
    """The clinic's rows copied into a SQLite database, served by an app of its own."""
    path = tmp_path / "twin.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    await copy_rows(database_url, url)
    app = create_app(
        Settings(environment=Environment.test, database_url=url), clock=FrozenClock(START)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://csledger.test") as client:
        yield Twin(
            replace(clinic, builder=replace(clinic.builder, client=client), keys=0),
            app.state.database.engine,
        )
    await app.state.database.dispose()


def number_event_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Event ids 1, 2, 3... from here on (``uuid.uuid4`` where events are made, nothing else)."""
    serial = itertools.count(1)
    ids = SimpleNamespace(UUID=uuid.UUID, uuid4=lambda: uuid.UUID(int=next(serial)))
    monkeypatch.setattr(rows, "uuid", ids)


async def append_every_kind_of_field(clinic: Clinic) -> list[tuple[int, str]]:
    """A receipt, a move, an administration, an overridden witnessed waste, a count and a
    reversal: between them every hashed field, a non-UTC offset and microseconds."""
    room = clinic.room.id
    count = {
        "inventory_id": str(uuid.UUID(int=99)),
        "inventory_kind": "ad_hoc",
        "taken_at": "close_of_business",
        "exactness": "exact",
        "counted_by": clinic.nurse.id,
    }
    bodies = [
        clinic.event("receipt", "20", occurred_at="2026-03-02T08:50:00.123456-06:00",
                     document_reference="INV-TWINS"),
        clinic.event("move", "6.5", to_location_id=room),
        clinic.event("administer", "2.25", location_id=room, patient_id=clinic.patient.id),
        clinic.event("waste", "0.125", location_id=room, witness_ids=[clinic.witness.id],
                     override_reason="witness signed on paper"),
        clinic.event("count", "13.5", count=count),
    ]  # fmt: skip
    events = [await appended(clinic, body) for body in bodies]
    administered = events[2]["id"]
    reversal = reversal_body(clinic.registrant.id, administered, START.isoformat())
    events.append(await appended(clinic, reversal, clinic.officer_token))
    return [(event["sequence"], event["hash"]) for event in events]


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_the_same_events_hash_alike_on_sqlite_and_postgresql(
    clinic, probe, sqlite_twin, monkeypatch
):
    hashes = {}
    for name, twin, engine in (
        ("postgresql", clinic, probe.engine),
        ("sqlite", sqlite_twin.clinic, sqlite_twin.engine),
    ):
        number_event_ids(monkeypatch)
        hashes[name] = await append_every_kind_of_field(twin)
        stored = await stored_chain(engine, clinic.registrant.id)
        assert [(event.sequence, event.hash) for event in stored] == hashes[name]
        assert await chain_break(engine, clinic.registrant.id) is None
    assert hashes["sqlite"] == hashes["postgresql"]


# Tampering


async def receipt_and_three_takes(clinic: Clinic) -> None:
    await appended(clinic, clinic.event("receipt", "10"))
    for quantity in ("1", "2", "3"):
        await appended(clinic, clinic.event("administer", quantity))


_DROP_TRIGGERS = {
    "sqlite": "SELECT 'DROP TRIGGER ' || name FROM sqlite_master WHERE type = 'trigger'",
    "postgresql": "SELECT format('DROP TRIGGER %I ON %s', tgname, tgrelid::regclass) "
    "FROM pg_trigger WHERE NOT tgisinternal",
}
"""A query whose rows are the statements dropping every trigger of the database."""


async def _drop_triggers(connection: AsyncConnection, dialect: str) -> None:
    statements = (await connection.exec_driver_sql(_DROP_TRIGGERS[dialect])).scalars().all()
    assert statements
    for statement in statements:
        await connection.exec_driver_sql(statement)


@asynccontextmanager
async def unguarded(engine: AsyncEngine, dialect: str, how: str) -> AsyncIterator[AsyncConnection]:
    """A transaction past the append-only triggers: dropped by the owner, or (a superuser's
    right on PostgreSQL) bypassed for this transaction alone."""
    async with engine.begin() as connection:
        if how == "replica role":
            await connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            assert how == "dropped triggers"
            await _drop_triggers(connection, dialect)
        yield connection


Tampering = Callable[[AsyncConnection, LedgerEvent], Awaitable[None]]


async def change_quantity(connection: AsyncConnection, event: LedgerEvent) -> None:
    await connection.execute(
        update(LedgerEvent).where(LedgerEvent.id == event.id).values(quantity=event.quantity + 1)
    )


async def delete_row(connection: AsyncConnection, event: LedgerEvent) -> None:
    await connection.execute(delete(Posting).where(Posting.event_id == event.id))
    await connection.execute(delete(LedgerEvent).where(LedgerEvent.id == event.id))


async def rewrite_and_rehash(connection: AsyncConnection, event: LedgerEvent) -> None:
    """Change the event and give it the hash of its new content: only the next link breaks."""
    forged = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
    forged["quantity"] += 1
    forged_hash = chain.link(event.prev_hash, chain.hashed_body(forged))
    await connection.execute(
        update(LedgerEvent)
        .where(LedgerEvent.id == event.id)
        .values(quantity=forged["quantity"], hash=forged_hash)
    )


TAMPERINGS = [
    pytest.param(change_quantity, (2, "hash does not match the event's content"), id="quantity"),
    pytest.param(delete_row, (2, "sequence 2 is missing"), id="deleted"),
    pytest.param(
        rewrite_and_rehash, (3, "prev_hash does not match the hash of the event before"),
        id="rehashed",
    ),
]  # fmt: skip


async def assert_caught(
    clinic: Clinic, engine: AsyncEngine, dialect: str, how: str, tamper: Tampering, named: Any
) -> None:
    await receipt_and_three_takes(clinic)
    rid = clinic.registrant.id
    assert await chain_break(engine, rid) is None
    events = await stored_chain(engine, rid)
    async with unguarded(engine, dialect, how) as connection:
        await tamper(connection, events[1])
    sequence, why = named
    there = None if why.endswith("is missing") else str(events[sequence - 1].id)
    assert await chain_break(engine, rid) == chain.Break(sequence, why, there)


@pytest.mark.parametrize(("tamper", "named"), TAMPERINGS)
@pytest.mark.parametrize(
    ("dialect", "how"),
    [("sqlite", "dropped triggers"), ("postgresql", "replica role")],
    indirect=["dialect"],
)
async def test_tampering_is_caught_and_names_the_event(clinic, probe, dialect, how, tamper, named):
    await assert_caught(clinic, probe.engine, dialect, how, tamper, named)


@pytest.mark.fresh_database
@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_a_change_behind_triggers_dropped_by_the_owner_is_caught(clinic, probe, dialect):
    await assert_caught(
        clinic, probe.engine, dialect, "dropped triggers", change_quantity,
        (2, "hash does not match the event's content"),
    )  # fmt: skip


# The append-only triggers


async def witnessed_waste(clinic: Clinic) -> None:
    """A row in each append-only table of the ledger."""
    await appended(clinic, clinic.event("receipt", "10"))
    waste = await appended(clinic, clinic.event("waste", "1", witness_ids=[clinic.witness.id]))
    confirmed = await clinic.client.post(
        f"/v1/ledger/events/{waste['id']}/witness-confirmations",
        headers={"Authorization": f"Bearer {clinic.witness_token}"},
    )
    assert confirmed.status_code == 201, confirmed.text


async def test_the_ledger_tables_refuse_update_delete_and_truncate(clinic, probe, dialect):
    await witnessed_waste(clinic)
    statements = {
        "UPDATE": "UPDATE {table} SET registrant_id = registrant_id",
        "DELETE": "DELETE FROM {table}",
    }
    if dialect == "postgresql":  # SQLite has no TRUNCATE
        statements["TRUNCATE"] = "TRUNCATE {table} CASCADE"
    before = await probe.business_rows()
    assert all(before[table] for table in APPEND_ONLY)
    for (operation, statement), table in itertools.product(statements.items(), APPEND_ONLY):
        with pytest.raises(DBAPIError, match=f"{table} is append-only: {operation} refused"):
            async with probe.engine.begin() as connection:
                await connection.exec_driver_sql(statement.format(table=table))
    assert await probe.business_rows() == before
