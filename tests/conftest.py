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
from sqlalchemy.ext.asyncio import create_async_engine

from app.auth.permissions import Role
from app.auth.tokens import mint_token
from app.core.clock import FrozenClock
from app.core.config import Environment, Settings
from app.core.migrations import alembic_config
from app.main import create_app

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


def _worker_suffix(worker_id: str) -> str:
    return worker_id if worker_id != "master" else "main"


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


@pytest.fixture(scope="session")
def postgres_template(worker_id: str) -> Iterator[str]:
    name = f"csledger_template_{_worker_suffix(worker_id)}"
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    try:
        blocking(migrate(_async_url(name)))
        yield name
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of the test's dialect."""
    if dialect == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        copy = tmp_path / "test.db"
        shutil.copyfile(template, copy)
        yield f"sqlite+aiosqlite:///{copy}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"csledger_test_{uuid.uuid4().hex[:12]}"
    admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    try:
        yield _async_url(name)
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def app_settings(database_url: str) -> Settings:
    return Settings(environment=Environment.test, database_url=database_url)


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
