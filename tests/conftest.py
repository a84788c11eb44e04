"""Real databases for every test: a fresh one per test, cloned from a migrated template.

SQLite: the template file is copied. PostgreSQL: ``CREATE DATABASE ... TEMPLATE``. Each API
test runs on both (the ``dialect`` parameter). With CI=true an unreachable PostgreSQL fails the
run; elsewhere its tests are skipped.
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from alembic import command
from hypothesis import HealthCheck, settings
from sqlalchemy import Row, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from typer.testing import CliRunner

from app.audit.models import AuditEntry
from app.auth.permissions import Role
from app.auth.tokens import mint_token
from app.core.clock import FrozenClock
from app.core.config import Environment, Settings, get_settings
from app.core.migrations import alembic_config
from app.main import create_app
from app.models import metadata
from tests.proxy import CuttableProxy

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

POSTGRES_ADMIN_URL = os.environ.get(
    "CSLEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI") == "true"
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DIALECTS = ["sqlite", "postgresql"]
T = TypeVar("T")


def _server_url(database: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def _async_url(database: str) -> str:
    return _server_url(database).replace("postgresql://", "postgresql+asyncpg://", 1)


async def migrate(url: str) -> None:
    """``alembic upgrade head`` on ``url``, through a connection we own (no nested loop)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection

            def upgrade(sync_connection: object) -> None:
                config.attributes["connection"] = sync_connection
                command.upgrade(config, "head")

            await connection.run_sync(upgrade)
    finally:
        await engine.dispose()


def blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on its own loop, whether or not one is running here."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    blocking(migrate(f"sqlite+aiosqlite:///{path}"))
    return path


async def _admin_execute(*statements: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def admin_execute(*statements: str) -> None:
    """Run statements on the PostgreSQL server's admin database: fail in CI, else skip."""
    try:
        blocking(_admin_execute(*statements))
    except (OSError, asyncpg.PostgresConnectionError) as exc:
        message = f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


class PostgresDatabases:
    """Migrated PostgreSQL databases for the tests of one process, cloned from its template.

    Cloning and dropping a database each wait for a checkpoint (about 1.5 s apiece on this
    machine's disk), which per test would dominate the suite, while emptying a clone's tables
    takes milliseconds. So a clone is made once and, between tests, restored to the template's
    empty state: every table emptied with triggers bypassed (``session_replication_role =
    replica``, a superuser's right; the append-only triggers stay installed). A test that
    changes the schema itself is marked ``fresh_database`` and gets a clone of its own.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self.idle: list[str] = []
        self.made: list[str] = []

    def clone(self) -> str:
        name = f"csledger_test_{uuid.uuid4().hex[:12]}"
        admin_execute(
            f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"',
            # Tests need no durability; this keeps every commit from waiting on an fsync.
            f'ALTER DATABASE "{name}" SET synchronous_commit = off',
        )
        self.made.append(name)
        return name

    def take(self) -> str:
        return self.idle.pop() if self.idle else self.clone()

    def give_back(self, name: str) -> None:
        blocking(_empty_tables(_server_url(name)))
        self.idle.append(name)

    def drop(self, name: str) -> None:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.remove(name)


async def _empty_tables(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            for table in reversed(metadata.sorted_tables):
                await connection.execute(f'DELETE FROM "{table.name}"')  # noqa: S608
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    # One template per test process: parallel workers and concurrent runs never share one.
    template = f"csledger_template_{os.getpid()}"
    admin_execute(
        f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)', f'CREATE DATABASE "{template}"'
    )
    databases = PostgresDatabases(template)
    try:
        blocking(migrate(_async_url(template)))
        yield databases
    finally:
        for name in [*databases.made, template]:
            admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of the test's dialect holding no rows, for this test alone."""
    if dialect == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        copy = tmp_path / "test.db"
        shutil.copyfile(template, copy)
        yield f"sqlite+aiosqlite:///{copy}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    if request.node.get_closest_marker("fresh_database"):
        name = databases.clone()
        yield _async_url(name)
        databases.drop(name)
        return
    name = databases.take()
    yield _async_url(name)
    databases.give_back(name)


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[CuttableProxy]:
    """A proxy a test can cut, in front of the PostgreSQL server of the test's database."""
    server = make_url(database_url)
    found = CuttableProxy(server.host or "localhost", server.port or 5432)
    await found.start()
    yield found
    await found.close()


@pytest.fixture
async def proxied(
    app_settings: Settings, database_url: str, proxy: CuttableProxy, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a service that reaches the test's database through ``proxy``; ``client``
    reaches the same database directly, to set the stage."""
    settings = app_settings.model_copy(update={"database_url": proxy.url(database_url)})
    application = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://csledger.test") as c:
        yield c
    await application.state.database.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def app_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment=Environment.test,
        database_url=database_url,
        development_key_dir=tmp_path / "keys",
    )


@pytest.fixture
async def app(app_settings: Settings, clock: FrozenClock) -> AsyncIterator[object]:
    application = create_app(app_settings, clock=clock)
    yield application
    await application.state.database.dispose()


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://csledger.test") as c:
        yield c


TokenFactory = Callable[..., str]


@pytest.fixture
def token(app_settings: Settings) -> TokenFactory:
    """``token(roles, registrants, sub=..., name=...)``: a signed token valid now."""

    def make(
        roles: list[Role] | list[str],
        registrants: list[uuid.UUID] | list[str],
        *,
        sub: str | None = None,
        name: str = "Test User",
    ) -> str:
        return mint_token(
            app_settings,
            subject=sub or f"user-{uuid.uuid4().hex[:8]}",
            name=name,
            roles=[Role(r) for r in roles],
            registrants=[str(r) for r in registrants],
            now=datetime.now(UTC),
        )

    return make


@pytest.fixture
def admin_token(token: TokenFactory) -> str:
    return token([Role.admin], ["*"], sub="platform-admin", name="Platform Admin")


def bearer(token_value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_value}"}


class DatabaseProbe:
    """The test's database seen through an engine of its own: only what requests committed."""

    UNWRITTEN = frozenset({"audit_log", "alembic_version"})

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def business_rows(self) -> dict[str, list[str]]:
        """Every row of every table but the audit log, to compare before and after a request."""
        async with self.engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            found = {}
            for name in sorted(set(names) - self.UNWRITTEN):
                rows = await connection.execute(text(f'SELECT * FROM "{name}"'))  # noqa: S608
                found[name] = sorted(repr(tuple(row)) for row in rows)
            return found

    async def audit_count(self) -> int:
        async with self.engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(AuditEntry)) or 0)

    async def audit_rows(self, request_id: str) -> list[Row[Any]]:
        statement = select(AuditEntry.__table__).where(AuditEntry.request_id == request_id)
        async with self.engine.connect() as connection:
            return list(await connection.execute(statement))


@pytest.fixture
async def probe(database_url: str) -> AsyncIterator[DatabaseProbe]:
    engine = create_async_engine(database_url)
    yield DatabaseProbe(engine)
    await engine.dispose()


@pytest.fixture
def runner(monkeypatch, database_url, app_settings) -> Iterator[CliRunner]:
    """``csledger`` commands against the test's database (each runs its own event loop: call
    it from a thread, ``asyncio.to_thread``)."""
    monkeypatch.setenv("CSLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("CSLEDGER_ENVIRONMENT", "test")
    monkeypatch.setenv("CSLEDGER_DEVELOPMENT_KEY_DIR", str(app_settings.development_key_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


IntegrationFactory = Callable[..., Coroutine[Any, Any, str]]


@pytest.fixture
def integration_at(client, admin_token: str, token: TokenFactory) -> IntegrationFactory:
    """``await integration_at(registrant_id, *scopes, sub=..., name=...)``: an integration an
    admin configured at the registrant with ``scopes`` (its FHIR location: the registrant's
    first active place that is not a session's holding), and its token."""

    async def make(
        registrant_id: str, *scopes: str, sub: str = "ehr-feed", name: str = "EHR"
    ) -> str:
        admin = bearer(admin_token)
        places = await client.get(f"/v1/registrants/{registrant_id}/locations", headers=admin)
        assert places.status_code == 200, places.text
        [place, *_] = [p for p in places.json()["items"] if p["kind"] != "in_use" and p["active"]]
        configured = await client.post(
            "/v1/integrations/fhir-senders", headers=admin,
            json={"registrant_id": registrant_id, "subject": sub, "location_id": place["id"],
                  "scopes": list(scopes)},
        )  # fmt: skip
        assert configured.status_code == 201, configured.text
        return token(["integration"], [registrant_id], sub=sub, name=name)

    return make
