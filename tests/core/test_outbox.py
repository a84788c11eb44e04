"""The outbox: messages commit with their change, and reach subscribers at least once."""

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
    assert await worker.dispatch_once()  # the failure is counted, the dispatch rolled back
    assert await _undispatched(probe) == 1
    [row] = await _messages(probe)
    assert (row.attempts, row.dead_at) == (1, None)
    assert "subscriber down" in row.last_error
    assert await worker.dispatch_once()
    assert (attempts, await _undispatched(probe)) == (2, 0)


async def _messages(probe):
    async with probe.engine.connect() as connection:
        statement = select(outbox.OutboxMessage.__table__).order_by(outbox.OutboxMessage.id)
        return list(await connection.execute(statement))


async def test_a_message_that_keeps_failing_is_set_aside_and_holds_back_no_other(app, clock, probe):
    handled: list[int] = []

    async def picky(session, message):
        if message.payload["n"] == 0:
            raise RuntimeError("cannot handle this one")
        handled.append(message.payload["n"])

    async with app.state.database.transaction() as session:
        for n in range(2):
            await outbox.publish(session, topic="t", payload={"n": n}, now=clock.now())
    worker = Worker(app.state.database, app.state.settings, clock, handlers={}, periodic=(),
                    subscribers={"t": [picky]})  # fmt: skip
    await worker.run_until_idle()
    assert handled == [1]
    first, second = await _messages(probe)
    assert (first.attempts, first.dead_at is not None, first.dispatched_at) == (
        app.state.settings.outbox_max_attempts, True, None,
    )  # fmt: skip
    assert (second.attempts, second.dispatched_at is not None) == (0, True)
