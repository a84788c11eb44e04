"""Migration 0017 on a database holding files made before it: each keeps its content and gains
the SHA-256 of its bytes, and the table stays append-only."""

import hashlib
import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import DBAPIError

from app.core.migrations import alembic_config
from tests.conftest import START
from tests.factories import create_registrant

_BEFORE = sa.table(
    "pdmp_submissions",
    *(sa.column(name, kind) for name, kind in (
        ("id", sa.Uuid()), ("registrant_id", sa.Uuid()), ("report_date", sa.Date()),
        ("control_number", sa.String()), ("dispenses", sa.Integer()), ("voids", sa.Integer()),
        ("content", sa.Text()), ("detail_sha256", sa.String()), ("created_by", sa.String()),
        ("created_at", sa.DateTime(timezone=True)),
    )),
)  # fmt: skip
CONTENT = "TH*4.2A*000000001*01**20260301*100000*P**~~IS*1*X~PHA***FK0000012*X~TP*2~TT*000000001*5~"


@pytest.mark.fresh_database
async def test_the_files_kept_before_gain_their_sha256(client, admin_token, probe, database_url):
    registrant = await create_registrant(client, admin_token, kind="pharmacy")
    kept_id = uuid.uuid4()

    def migrate(connection: sa.Connection, revision: str) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        if revision == "head":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)

    async with probe.engine.begin() as connection:
        await connection.run_sync(migrate, "0016")
        await connection.execute(_BEFORE.insert().values(
            id=kept_id, registrant_id=uuid.UUID(registrant["id"]), report_date=date(2026, 3, 1),
            control_number="000000001", dispenses=0, voids=0, content=CONTENT,
            detail_sha256="0" * 64, created_by="officer-rx", created_at=START,
        ))  # fmt: skip
        await connection.run_sync(migrate, "head")
    after = sa.text("SELECT content, content_sha256, corrects_submission_id, created_by_name "
                    "FROM pdmp_submissions")  # fmt: skip
    async with probe.engine.connect() as connection:
        row = (await connection.execute(after)).one()
    assert tuple(row) == (CONTENT, hashlib.sha256(CONTENT.encode()).hexdigest(), None, None)
    with pytest.raises(DBAPIError, match="append-only"):
        async with probe.engine.begin() as connection:
            await connection.execute(sa.text("UPDATE pdmp_submissions SET dispenses = 1"))
