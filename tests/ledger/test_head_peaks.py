"""The chain head's Merkle peaks: kept by every append, filled in by the migration that added
them, and enough for the appends after it to grow a tree that verifies."""

import uuid

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.migrations import alembic_config
from app.ledger import merkle
from app.ledger.merkle_store import MerkleNode
from app.ledger.models import ChainHead
from tests.ledger.support import appended
from tests.ledger.test_verification import _verify


async def stored_peaks(engine: AsyncEngine, registrant_id: str) -> tuple[list[str], list[str]]:
    """The head's peaks, and the stored nodes at the places merkle.peaks names."""
    rid = uuid.UUID(registrant_id)
    async with engine.connect() as connection:
        head_query = select(ChainHead.sequence, ChainHead.peaks).where(
            ChainHead.registrant_id == rid
        )
        head = (await connection.execute(head_query)).one()
        node_query = select(MerkleNode.level, MerkleNode.index, MerkleNode.hash).where(
            MerkleNode.registrant_id == rid
        )
        nodes = {
            (level, index): hash_ for level, index, hash_ in await connection.execute(node_query)
        }
    return head.peaks, [nodes[node] for node in merkle.peaks(head.sequence)]


async def test_every_append_keeps_the_heads_peaks_equal_to_the_stored_nodes(clinic, probe):
    rid = clinic.registrant.id
    await appended(clinic, clinic.event("receipt", "100"))
    for size in range(2, 9):
        await appended(clinic, clinic.event("administer", "1"))
        kept, stored = await stored_peaks(probe.engine, rid)
        assert len(kept) == bin(size).count("1")
        assert kept == stored


@pytest.mark.fresh_database
async def test_the_migration_fills_in_the_peaks_and_appends_go_on_from_them(
    clinic, probe, app, database_url
):
    rid = clinic.registrant.id
    await appended(clinic, clinic.event("receipt", "100"))
    for _ in range(10):
        await appended(clinic, clinic.event("administer", "1"))

    def remigrate(connection: object) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0013")
        command.upgrade(config, "head")

    async with probe.engine.begin() as connection:
        await connection.run_sync(remigrate)
    kept, stored = await stored_peaks(probe.engine, rid)
    assert len(kept) == 3  # 11 events: complete subtrees of 8, 2 and 1 leaves
    assert kept == stored
    for _ in range(6):
        await appended(clinic, clinic.event("administer", "1"))
    assert (await _verify(app, clinic)).ok
