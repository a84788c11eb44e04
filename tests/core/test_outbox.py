"""The outbox: messages commit with their change, and reach subscribers at least once."""

import pytest
from sqlalchemy import func, select

from app.core import outbox
from app.worker import Worker


async def _undispatched(probe) -> int:
    async with probe.engine.connect() as connection:
        statement = (
            select(func.count())
            .select_from(outbox.OutboxMessage)
            .where(outbox.OutboxMessage.dispatched_at.is_(None))
        )
        return int(await connection.scalar(statement) or 0)


async def test_subscribers_get_each_message_in_order(app, clock):
    received: list[tuple[str, dict[str, int]]] = []

    async def subscriber(session, message):
        received.append((message.topic, message.payload))

    async with app.state.database.transaction() as session:
        for n in range(3):
            await outbox.publish(session, topic="t", payload={"n": n}, now=clock.now())
    worker = Worker(
        app.state.database,
        app.state.settings,
        clock,
        handlers={},
        periodic=(),
        subscribers={"t": [subscriber]},
    )
    await worker.run_until_idle()
    assert received == [("t", {"n": 0}), ("t", {"n": 1}), ("t", {"n": 2})]


async def test_a_rolled_back_change_publishes_nothing(app, clock, probe):
    async with app.state.database.session(write=True) as session:
        await outbox.publish(session, topic="t", payload={}, now=clock.now())
    assert await _undispatched(probe) == 0


async def test_a_failing_subscriber_leaves_the_message_for_another_try(app, clock, probe):
    attempts = 0

    async def flaky(session, message):
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("subscriber down")

    async with app.state.database.transaction() as session:
        await outbox.publish(session, topic="t", payload={}, now=clock.now())
    worker = Worker(
        app.state.database,
        app.state.settings,
        clock,
        handlers={},
        periodic=(),
        subscribers={"t": [flaky]},
    )
    with pytest.raises(RuntimeError, match="subscriber down"):
        await worker.dispatch_once()
    assert await _undispatched(probe) == 1
    assert await worker.dispatch_once()
    assert (attempts, await _undispatched(probe)) == (2, 0)
