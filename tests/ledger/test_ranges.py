"""Verification in ranges of events, in worker processes (PostgreSQL): the same verdicts as
one walk, whatever range the break falls in."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.ledger import keys
from app.ledger.verification import Outcome, verify_registrant
from app.worker import Worker

pytestmark = pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)

RANGE = 4
"""Small ranges, so that eleven events span three of them."""


async def _verify(app, clinic, processes: int) -> Outcome:
    published = {key["kid"]: key for key in keys.published_keys(app.state.settings)}
    registrant_id = uuid.UUID(clinic.registrant.id)
    async with app.state.database.session(write=False) as session:
        return await verify_registrant(
            session, registrant_id, keys=published, processes=processes, range_size=RANGE
        )


async def _both(app, clinic) -> tuple[Outcome, Outcome]:
    return await _verify(app, clinic, 1), await _verify(app, clinic, 2)


async def _eleven_events_three_checkpoints(app, clinic, clock) -> None:
    """Checkpoints at 5 (inside the second range), 8 (the end of it) and 11."""
    for batch in (5, 3, 3):
        for _ in range(batch):
            assert (await clinic.post(clinic.event("receipt", "1"))).status_code == 201
        await Worker(app.state.database, app.state.settings, clock).run_until_idle()
        clock.advance(timedelta(minutes=app.state.settings.checkpoint_interval_minutes))


async def _tamper(probe, statement: str) -> None:
    async with probe.engine.begin() as connection:
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(text(statement))


async def test_a_clean_chain_verifies_in_ranges_as_in_one_walk(app, clinic, clock):
    await _eleven_events_three_checkpoints(app, clinic, clock)
    one, ranges = await _both(app, clinic)
    assert one == ranges
    assert (ranges.ok, ranges.events, ranges.checkpoints) == (True, 11, 3)


@pytest.mark.parametrize("sequence", [2, 5, 8, 11])
async def test_a_changed_event_is_named_in_whichever_range_it_is(
    app, clinic, clock, probe, sequence
):
    await _eleven_events_three_checkpoints(app, clinic, clock)
    await _tamper(probe, f"UPDATE ledger_events SET quantity = 7000 WHERE sequence = {sequence}")  # noqa: S608
    one, ranges = await _both(app, clinic)
    assert one == ranges
    assert (ranges.ok, ranges.sequence, ranges.events) == (False, sequence, sequence - 1)
    assert "content" in (ranges.failure or "")


async def test_a_deleted_event_at_the_start_of_a_range_is_missing(app, clinic, clock, probe):
    await _eleven_events_three_checkpoints(app, clinic, clock)
    await _tamper(probe, "DELETE FROM ledger_events WHERE sequence = 5")
    one, ranges = await _both(app, clinic)
    assert one == ranges
    assert (ranges.ok, ranges.sequence, ranges.failure) == (False, 5, "sequence 5 is missing")


async def test_a_relinked_event_at_the_start_of_a_range_is_caught_between_ranges(
    app, clinic, clock, probe
):
    await _eleven_events_three_checkpoints(app, clinic, clock)
    await _tamper(probe, f"UPDATE ledger_events SET prev_hash = '{'0' * 64}' WHERE sequence = 9")  # noqa: S608
    one, ranges = await _both(app, clinic)
    assert one == ranges
    assert (ranges.ok, ranges.sequence) == (False, 9)
    assert "prev_hash" in (ranges.failure or "")


async def test_json_stored_in_another_form_but_equal_still_verifies(app, clinic, clock, probe):
    """jsonb's text has spaces and its own key order: the walk falls back to parsing."""
    await _eleven_events_three_checkpoints(app, clinic, clock)
    await _tamper(probe, "UPDATE ledger_events SET snapshot = (snapshot::jsonb)::json")
    async with probe.engine.connect() as connection:
        stored = (
            await connection.execute(text("SELECT snapshot::text FROM ledger_events"))
        ).first()
    assert stored is not None
    assert ", " in stored[0]  # really not the canonical form any more
    one, ranges = await _both(app, clinic)
    assert one == ranges
    assert (ranges.ok, ranges.events) == (True, 11)


async def test_changed_json_is_still_caught(app, clinic, clock, probe):
    await _eleven_events_three_checkpoints(app, clinic, clock)
    await _tamper(
        probe,
        "UPDATE ledger_events SET snapshot = jsonb_set(snapshot::jsonb, '{lot,lot_number}',"
        " '\"FORGED\"')::json WHERE sequence = 6",
    )
    one, ranges = await _both(app, clinic)
    assert one == ranges
    assert (ranges.ok, ranges.sequence) == (False, 6)
