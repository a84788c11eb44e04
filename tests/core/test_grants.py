"""On PostgreSQL the service runs as a role that cannot change history, even without triggers."""

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.core.config import Environment, Settings
from app.core.migrations import grant_runtime_role
from app.main import create_app
from tests.conftest import admin_execute, bearer
from tests.factories import create_registrant

pytestmark = pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
ROLE = f"csledger_runtime_{os.getpid()}"


@pytest.fixture
async def runtime_url(database_url: str, probe) -> AsyncIterator[str]:
    admin_execute(f'DROP ROLE IF EXISTS "{ROLE}"', f'CREATE ROLE "{ROLE}" LOGIN')
    try:
        await grant_runtime_role(probe.engine, ROLE)
        _, _, rest = database_url.partition("@")
        yield f"postgresql+asyncpg://{ROLE}@{rest}"
    finally:
        async with probe.engine.begin() as connection:
            await connection.execute(text(f'DROP OWNED BY "{ROLE}"'))
        await probe.engine.dispose()
        admin_execute(f'DROP ROLE IF EXISTS "{ROLE}"')


@pytest.fixture
async def runtime_engine(runtime_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(runtime_url)
    yield engine
    await engine.dispose()


async def test_the_service_works_as_the_runtime_role(runtime_url, admin_token, tmp_path):
    settings = Settings(
        environment=Environment.test,
        database_url=runtime_url,
        development_key_dir=tmp_path / "keys",
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        registrant = await create_registrant(client, admin_token)
        renewed = await client.patch(
            f"/v1/registrants/{registrant['id']}",
            json={"registration_expires_on": "2029-06-30"},
            headers=bearer(admin_token),
        )
    await app.state.database.dispose()
    assert renewed.status_code == 200, renewed.text


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_events SET quantity = 0",
        "DELETE FROM audit_log",
        "TRUNCATE revisions",
        "DELETE FROM registrants",
        "DROP TRIGGER ledger_events_append_only ON ledger_events",
    ],
)
async def test_the_runtime_role_cannot_change_history(runtime_engine, statement):
    with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
        async with runtime_engine.begin() as connection:
            await connection.execute(text(statement))


async def test_the_runtime_role_owns_nothing(runtime_engine):
    async with runtime_engine.connect() as connection:
        owned = await connection.scalar(
            text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        )
    assert owned == 0
