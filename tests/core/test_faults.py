"""A database that fails to serve is answered 503 with Retry-After, wherever that is met, and
nothing else is; the refusals it leaves unaudited are logged and counted; a write it cut off
is stored once its client retries, never lost once acknowledged and never twice.

The interruptions are real: a proxy between the service and PostgreSQL cut at each step of
an append (tests/proxy.py), a backend terminated, a SQLite database locked by another
connection.
"""

import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import asyncpg
import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from app.core.clock import FrozenClock
from app.core.config import Environment, Settings
from app.core.db import Database, create_engine
from app.core.faults import is_database_unavailable
from app.ledger.models import LedgerEvent
from app.main import create_app
from tests.conftest import DatabaseProbe, admin_execute, bearer
from tests.factories import assert_problem
from tests.ledger.conftest import Clinic, open_clinic
from tests.outages import (
    assert_unavailable,
    logged_unwritten,
    until_served,
    unwritten_audit_rows,
)
from tests.proxy import CuttableProxy

EVENTS = "/v1/ledger/events"


def raised_by_sqlalchemy(driver_error: Exception) -> sa_exc.DBAPIError:
    """``driver_error`` as SQLAlchemy raises it: wrapping the dialect's adapted error, which
    was raised from the driver's."""
    adapted = Exception(str(driver_error))
    adapted.__cause__ = driver_error
    return sa_exc.DBAPIError("SELECT 1", None, adapted)


UNAVAILABLE: dict[str, BaseException] = {
    "connection refused": ConnectionRefusedError(111, "Connect call failed"),
    "connection reset": ConnectionResetError(104, "Connection reset by peer"),
    "every address refused": OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."),
    "connect timed out": TimeoutError(),
    "host unknown": socket.gaierror(-2, "Name or service not known"),
    "starting up (57P03)": asyncpg.CannotConnectNowError("the database system is starting up"),
    "starting up, through SQLAlchemy": raised_by_sqlalchemy(
        asyncpg.CannotConnectNowError("the database system is starting up")
    ),
    "admin shutdown (57P01)": asyncpg.AdminShutdownError("terminating connection"),
    "crash shutdown (57P02)": asyncpg.CrashShutdownError("terminating connection"),
    "statement cancelled (57014)": asyncpg.QueryCanceledError("canceling statement"),
    "closed mid-operation (08003)": asyncpg.ConnectionDoesNotExistError("connection was closed"),
    "connection is closed": asyncpg.InterfaceError("connection is closed"),
    "too many connections (53300)": asyncpg.TooManyConnectionsError("too many clients"),
    "disk full (53100)": raised_by_sqlalchemy(asyncpg.DiskFullError("could not extend file")),
    "serialization failure (40001)": asyncpg.SerializationError("could not serialize"),
    "deadlock (40P01)": raised_by_sqlalchemy(asyncpg.DeadlockDetectedError("deadlock")),
    "no pooled connection in time": sa_exc.TimeoutError("QueuePool limit reached"),
    "dead at checkout": sa_exc.DisconnectionError("the server closed this connection"),
    "invalidated by SQLAlchemy": sa_exc.DBAPIError(
        "SELECT 1", None, Exception("lost"), connection_invalidated=True
    ),
}
SERVED: dict[str, BaseException] = {
    "unique violation (23505)": raised_by_sqlalchemy(asyncpg.UniqueViolationError("dup")),
    "undefined table (42P01)": raised_by_sqlalchemy(asyncpg.UndefinedTableError("no t")),
    "syntax (42601)": asyncpg.PostgresSyntaxError("syntax error"),
    "division by zero (22012)": raised_by_sqlalchemy(asyncpg.DivisionByZeroError("/ 0")),
    "internal (XX000)": asyncpg.InternalServerError("cache lookup failed"),
    "wrong password (28P01)": asyncpg.InvalidPasswordError("password authentication failed"),
    "driver misused": asyncpg.InterfaceError("another operation is in progress"),
    "a file missing": FileNotFoundError(2, "No such file or directory"),
    "a file refused": PermissionError(13, "Permission denied"),
    "a SQLite error of no code": sqlite3.OperationalError("no such table: t"),
    "a bug": KeyError("registrant_id"),
}


@pytest.mark.parametrize("exc", UNAVAILABLE.values(), ids=UNAVAILABLE.keys())
def test_the_database_failing_to_serve_is_told_apart(exc):
    assert is_database_unavailable(exc)


@pytest.mark.parametrize("exc", SERVED.values(), ids=SERVED.keys())
def test_what_a_retry_would_not_mend_is_not_unavailability(exc):
    assert not is_database_unavailable(exc)


def test_an_error_raised_from_an_outage_is_one_an_error_met_while_handling_one_is_not():
    outage = asyncpg.CannotConnectNowError("the database system is starting up")
    raised_from = RuntimeError("the claim failed")
    raised_from.__cause__ = outage
    assert is_database_unavailable(raised_from)
    met_while_handling = KeyError("a bug in the handler")
    met_while_handling.__context__ = outage
    assert not is_database_unavailable(met_while_handling)


@contextmanager
def locked(database_url: str) -> Iterator[None]:
    """The SQLite database's write lock held by another connection."""
    holder = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_sqlite_busy_past_its_timeout_is_unavailable_a_missing_table_is_not(database_url):
    settings = Settings(environment=Environment.test, database_url=database_url,
                        sqlite_busy_timeout_ms=1)  # fmt: skip
    database = Database(create_engine(settings))
    try:
        with locked(database_url), pytest.raises(sa_exc.OperationalError) as busy:
            async with database.transaction() as session:
                await session.execute(select(LedgerEvent.id))
        with pytest.raises(sa_exc.OperationalError) as missing:
            async with database.session(write=False) as session:
                await session.execute(text("SELECT * FROM no_such_table"))
    finally:
        await database.dispose()
    assert is_database_unavailable(busy.value)
    assert not is_database_unavailable(missing.value)


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_a_terminated_backend_is_unavailable_a_failed_statement_is_not(database_url):
    database = Database(create_engine(Settings(environment=Environment.test,
                                               database_url=database_url)))  # fmt: skip
    try:
        with pytest.raises(sa_exc.DBAPIError) as failed:
            async with database.session(write=False) as session:
                await session.execute(text("SELECT 1 / 0"))
        async with database.session(write=False) as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            admin_execute(f"SELECT pg_terminate_backend({int(pid or 0)})")  # its own backend
            with pytest.raises(sa_exc.DBAPIError) as terminated:
                await session.execute(text("SELECT 1"))
    finally:
        await database.dispose()
    assert not is_database_unavailable(failed.value)
    assert is_database_unavailable(terminated.value)


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def stored_events(probe: DatabaseProbe, clinic: Clinic) -> list[str]:
    registrant_id = uuid.UUID(clinic.registrant.id)
    statement = select(LedgerEvent.id).where(LedgerEvent.registrant_id == registrant_id)
    async with probe.engine.connect() as connection:
        return [str(found) for found in await connection.scalars(statement)]


@pytest.fixture
async def impatient(app_settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a service whose SQLite writers wait for a lock a millisecond only."""
    settings = app_settings.model_copy(update={"sqlite_busy_timeout_ms": 1})
    application = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://csledger.test") as c:
        yield c
    await application.state.database.dispose()


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_a_sqlite_database_locked_past_the_busy_timeout_is_a_503(
    clinic: Clinic,
    impatient: httpx.AsyncClient,
    database_url: str,
    probe: DatabaseProbe,
    caplog: pytest.LogCaptureFixture,
):
    receipt = clinic.event("receipt")
    headers = bearer(clinic.nurse_token) | {"Idempotency-Key": "while-locked"}
    with locked(database_url):
        refused = await impatient.post(EVENTS, json=receipt, headers=headers)
    assert_unavailable(refused)
    logged_unwritten(caplog, refused)
    assert await unwritten_audit_rows(impatient) == 1
    stored = await impatient.post(EVENTS, json=receipt, headers=headers)
    assert stored.status_code == 201, stored.text
    assert await stored_events(probe, clinic) == [stored.json()["id"]]


STEPS: dict[str, tuple[bytes, bool] | None] = {
    "before the request": None,
    "at the Idempotency-Key's claim": (b"pg_try_advisory_xact_lock", False),
    "after the claim, at the ledger's head": (b"FROM ledger_heads", False),
    "at the write of the change with its audit row": (b"INSERT INTO audit_log", False),
    "at the commit, which never reaches the server": (b"COMMIT", False),
    "at the commit, whose answer never comes back": (b"COMMIT", True),
}
"""Where a restart cuts an append off: the marker of the statement the proxy stops at, and
whether that statement reaches the server (None: the server is away before it starts)."""


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
@pytest.mark.parametrize("step", STEPS)
async def test_an_append_cut_off_at_any_step_is_a_503_and_its_retry_is_stored_once(
    step: str,
    clinic: Clinic,
    proxy: CuttableProxy,
    proxied: httpx.AsyncClient,
    probe: DatabaseProbe,
    caplog: pytest.LogCaptureFixture,
):
    trap = STEPS[step]
    if trap is None:
        proxy.cut()
    else:
        proxy.cut_at(trap[0], delivered=trap[1])
    receipt = clinic.event("receipt")
    headers = bearer(clinic.nurse_token) | {"Idempotency-Key": "during-a-restart"}

    refused = await proxied.post(EVENTS, json=receipt, headers=headers)

    assert_unavailable(refused)
    assert proxy.refusing, "the request went through before the cut"
    kept = logged_unwritten(caplog, refused)
    assert (kept["method"], kept["route"], kept["subject"]) == ("POST", EVENTS, "nurse-1")
    assert await unwritten_audit_rows(proxied) == 1
    proxy.restore()
    stored = await until_served(lambda: proxied.post(EVENTS, json=receipt, headers=headers))
    assert stored.status_code == 201, stored.text
    committed_unanswered = trap == (b"COMMIT", True)
    assert stored.headers.get("idempotent-replayed") == ("true" if committed_unanswered else None)
    assert await stored_events(probe, clinic) == [stored.json()["id"]]


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_a_refusal_whose_audit_row_is_cut_off_keeps_its_answer_and_is_logged(
    clinic: Clinic,
    proxy: CuttableProxy,
    proxied: httpx.AsyncClient,
    probe: DatabaseProbe,
    caplog: pytest.LogCaptureFixture,
):
    proxy.cut_at(b"INSERT INTO audit_log", delivered=False)
    unknown_lot = clinic.event("receipt", lot_id="7d0c1d55-7a41-4b4e-8e49-2f6a1b0e9d10")
    headers = bearer(clinic.nurse_token) | {"Idempotency-Key": "refused"}

    refused = await proxied.post(EVENTS, json=unknown_lot, headers=headers)

    assert_problem(refused, 422, "invalid-reference")
    assert proxy.refusing, "the audit row was written"
    kept = logged_unwritten(caplog, refused)
    assert (kept["kind"], kept["problem_type"]) == ("refused", refused.json()["type"])
    assert await unwritten_audit_rows(proxied) == 1
    assert await probe.audit_rows(refused.headers["x-request-id"]) == []
