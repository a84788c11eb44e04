"""The write plan: parts planned to go last are sent by whoever takes them, and nothing is
executed on the session while they wait (a read then could not see them)."""

import pytest
from sqlalchemy import text

from app.core import writeplan
from app.core.bulk import Part


async def test_a_session_executes_nothing_while_planned_writes_wait(app):
    database = app.state.database
    async with database.session(write=True) as session:
        writeplan.plan(session, [Part("SELECT 1", {})])
        with pytest.raises(writeplan.PlannedWritesPending, match="1 planned write"):
            await session.execute(text("SELECT 2"))
        [part] = writeplan.take(session)
        assert part.sql == "SELECT 1"
        assert await session.scalar(text("SELECT 2")) == 2  # taken: the session is free again
        assert writeplan.take(session) == []


async def test_a_session_that_plans_nothing_is_not_held(app):
    async with app.state.database.session(write=False) as session:
        assert writeplan.take(session) == []
        assert await session.scalar(text("SELECT 3")) == 3
