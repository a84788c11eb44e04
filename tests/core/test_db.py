"""Column types exact on both dialects, and SQLite's write transactions."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from app.core.config import Environment, Settings
from app.core.db import Database, create_engine
from app.core.jobs import Job, enqueue
from app.registry.models import Patient
from tests.conftest import START, admin_execute, bearer
from tests.factories import create_registrant, patient_body, registrant_body


@pytest.fixture
async def database(database_url):
    db = Database(create_engine(Settings(environment=Environment.test, database_url=database_url)))
    yield db
    await db.dispose()


async def test_timestamps_come_back_aware_and_in_utc(database):
    chicago = timezone(timedelta(hours=-6))
    local = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=chicago)
    async with database.transaction() as session:
        await enqueue(session, kind="k", now=local)
    async with database.session(write=False) as session:
        stored = await session.scalar(select(Job.created_at))
    assert stored == local
    assert stored.tzinfo is UTC
    assert stored.hour == 15
    assert stored.microsecond == 123456


async def test_naive_timestamps_are_refused(database):
    with pytest.raises(StatementError, match="naive"):
        async with database.transaction() as session:
            await enqueue(session, kind="k", now=datetime(2026, 3, 2, 9, 0))  # noqa: DTZ001


async def test_quantities_are_exact_decimals(client, admin_token, token, database):
    registrant = await create_registrant(client, admin_token)
    clinician = token(["clinician"], [registrant["id"]])
    created = await client.post(
        "/v1/patients",
        json=patient_body(registrant["id"], weight_kg="0.1"),
        headers=bearer(clinician),
    )
    assert created.json()["weight_kg"] == "0.1"
    async with database.session(write=False) as session:
        weight = await session.scalar(select(Patient.weight_kg))
    assert weight + Decimal("0.2") == Decimal("0.3")


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_concurrent_sqlite_writers_wait_instead_of_failing(database):
    """A deferred BEGIN would fail with "database is locked" when a reader turns writer."""

    async def read_then_write(n: int) -> None:
        async with database.transaction() as session:
            await session.scalar(select(Job.id).limit(1))
            await asyncio.sleep(0.01)
            await enqueue(session, kind=f"k{n}", now=START)

    await asyncio.gather(*(read_then_write(n) for n in range(8)))
    async with database.session(write=False) as session:
        assert len((await session.scalars(select(Job.id))).all()) == 8


async def test_ids_are_uuids(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    assert uuid.UUID(registrant["id"]).version == 4


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_pooled_connections_the_server_closed_are_replaced_before_use(
    client, admin_token, database_url
):
    """Every backend of the service's pool terminated (as a restart would): the next
    requests are served on new connections, none of them answered with an error."""
    for _ in range(3):
        created = await client.post("/v1/registrants", json=registrant_body(),
                                    headers=bearer(admin_token))  # fmt: skip
        assert created.status_code == 201, created.text
    name = database_url.rsplit("/", 1)[1]
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"  # noqa: S608 - a test database
        f" WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    admin_execute(terminate)
    await asyncio.sleep(0.2)  # the pooled connections read the server's goodbye
    for _ in range(3):
        listed = await client.get("/v1/registrants", headers=bearer(admin_token))
        assert listed.status_code == 200, listed.text
