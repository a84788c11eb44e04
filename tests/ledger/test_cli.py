"""``csledger checkpoint`` and ``csledger verify`` against a real ledger."""

import asyncio
from collections.abc import Iterator

import pytest
from click.testing import Result
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import get_settings


@pytest.fixture
def runner(monkeypatch, database_url, app_settings) -> Iterator[CliRunner]:
    monkeypatch.setenv("CSLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("CSLEDGER_ENVIRONMENT", "test")
    monkeypatch.setenv("CSLEDGER_DEVELOPMENT_KEY_DIR", str(app_settings.development_key_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def run(runner: CliRunner, *args: str) -> Result:
    """The command runs its own event loop, so it runs in a thread of its own."""
    return await asyncio.to_thread(runner.invoke, cli, list(args))


async def test_checkpoint_then_verify(runner, clinic):
    for _ in range(4):
        await clinic.post(clinic.event("receipt", "1"))
    signed = await run(runner, "checkpoint")
    assert signed.output == "signed 1 checkpoint(s)\n"
    verified = await run(runner, "verify")
    assert verified.exit_code == 0, verified.output
    assert verified.output.endswith(": ok (4 events, 1 checkpoints)\n")


async def test_verify_names_the_first_broken_event_and_fails(runner, clinic, probe, dialect):
    for _ in range(4):
        await clinic.post(clinic.event("receipt", "1"))
    async with probe.engine.begin() as connection:
        if dialect == "sqlite":
            await connection.execute(text("DROP TRIGGER ledger_events_no_delete"))
            await connection.execute(text("DROP TRIGGER ledger_postings_no_delete"))
        else:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(text("DELETE FROM ledger_postings"))
        await connection.execute(text("DELETE FROM ledger_events WHERE sequence = 3"))
    verified = await run(runner, "verify")
    assert verified.exit_code == 1
    assert "FAILED at 3: sequence 3 is missing" in verified.output
