"""Migrations: upgrade an empty database of each dialect, match the models, and go back down."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.migrations import alembic_config, head_revision
from app.models import metadata
from tests.conftest import migrate

APPEND_ONLY = {
    "audit_log",
    "pdmp_submissions",
    "pdmp_responses",
    "revisions",
    "staff_registrations",
    "ledger_events",
    "ledger_postings",
    "ledger_merkle_nodes",
    "ledger_checkpoints",
    "ledger_witness_confirmations",
    "evaluations",
    "compounding_batches",
    "compounding_ingredients",
    "session_administrations",
    "session_vitals",
    "prescription_fills",
    "discrepancy_transitions",
    "discrepancy_assignments",
    "discrepancy_notes",
    "webhook_attempts",
    "supplier_invoices",
    "supplier_invoice_lines",
}


async def _on_connection(url: str, work):
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def _alembic(url: str, connection, action, *args) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    action(config, *args)


async def test_the_migrated_schema_matches_the_models(database_url):
    """What ``alembic check`` checks: no difference left for autogenerate to find."""

    def differences(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    assert await _on_connection(database_url, differences) == []


async def test_append_only_triggers_are_installed(database_url, dialect):
    def triggers(connection):
        if dialect == "sqlite":
            rows = connection.exec_driver_sql(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'"
            )
        else:
            rows = connection.exec_driver_sql(
                "SELECT event_object_table FROM information_schema.triggers"
            )
        return {row[0] for row in rows}

    assert await _on_connection(database_url, triggers) == APPEND_ONLY


@pytest.mark.fresh_database
async def test_downgrade_to_base_and_upgrade_again(database_url):
    await _on_connection(
        database_url, lambda c: _alembic(database_url, c, command.downgrade, "base")
    )
    tables = await _on_connection(database_url, lambda c: inspect(c).get_table_names())
    assert set(tables) <= {"alembic_version"}
    await migrate(database_url)
    version = await _on_connection(
        database_url,
        lambda c: c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar(),
    )
    assert version == head_revision()
