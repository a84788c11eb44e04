"""Verification walks the chain, the Merkle roots and the signatures, and names what breaks."""

import base64
import json
import uuid

from sqlalchemy import text

from app.auth.tokens import sign_statement
from app.ledger import keys, merkle
from app.ledger.merkle import RunningRoot
from app.ledger.verification import verify_registrant
from app.worker import Worker
from tests.conftest import bearer


async def _verify(app, clinic):
    published = {key["kid"]: key for key in keys.published_keys(app.state.settings)}
    async with app.state.database.session(write=False) as session:
        return await verify_registrant(session, uuid.UUID(clinic.registrant.id), keys=published)


async def _run_worker(app, clock) -> None:
    await Worker(app.state.database, app.state.settings, clock).run_until_idle()


def test_the_running_root_is_the_tree_root():
    leaves = [bytes([n]) * 32 for n in range(13)]
    nodes = {}
    running = RunningRoot()
    for index, leaf in enumerate(leaves):
        running.add(leaf)
        nodes[(0, index)] = merkle.leaf_hash(leaf)
        for level, position in merkle.nodes_completed_by(index)[1:]:
            nodes[(level, position)] = merkle.node_hash(
                nodes[(level - 1, 2 * position)], nodes[(level - 1, 2 * position + 1)]
            )
        assert running.root() == merkle.root(index + 1, lambda lv, ix: nodes[(lv, ix)])


async def test_a_clean_ledger_verifies_through_the_api(clinic, app, clock):
    for _ in range(3):
        await clinic.post(clinic.event("receipt", "1"))
    await _run_worker(app, clock)  # signs a checkpoint
    started = await clinic.client.post(
        "/v1/ledger/verifications",
        json={"registrant_id": clinic.registrant.id},
        headers=bearer(clinic.officer_token),
    )
    assert started.status_code == 202, started.text
    await _run_worker(app, clock)
    finished = await clinic.client.get(
        started.headers["location"], headers=bearer(clinic.officer_token)
    )
    assert finished.json()["status"] == "succeeded"
    assert finished.json()["result"] | {"registrant_id": None} == {
        "registrant_id": None,
        "ok": True,
        "events": 3,
        "checkpoints": 1,
        "failure": None,
        "sequence": None,
        "event_id": None,
    }


async def test_only_compliance_officers_start_verifications(clinic):
    response = await clinic.client.post(
        "/v1/ledger/verifications",
        json={"registrant_id": clinic.registrant.id},
        headers=bearer(clinic.nurse_token),
    )
    assert response.status_code == 403


async def test_a_changed_quantity_is_named(clinic, app, dialect, probe):
    for _ in range(3):
        await clinic.post(clinic.event("receipt", "1"))
    async with probe.engine.begin() as connection:
        if dialect == "sqlite":
            await connection.execute(text("DROP TRIGGER ledger_events_no_update"))
        else:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        changed = await connection.execute(
            text("UPDATE ledger_events SET quantity = 5000 WHERE sequence = 2 RETURNING id")
        )
        event_id = uuid.UUID(str(changed.scalar_one()))
    outcome = await _verify(app, clinic)
    assert (outcome.ok, outcome.sequence, outcome.event_id) == (False, 2, str(event_id))
    assert "content" in (outcome.failure or "")


async def test_a_ledger_re_signed_with_another_key_is_caught(clinic, app, clock, probe):
    await clinic.post(clinic.event("receipt", "1"))
    await _run_worker(app, clock)
    forged_key = keys.new_private_pem()
    async with probe.engine.begin() as connection:
        if probe.engine.dialect.name == "postgresql":
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            await connection.execute(text("DROP TRIGGER ledger_checkpoints_no_update"))
        [jws] = (await connection.execute(text("SELECT jws FROM ledger_checkpoints"))).scalars()
        payload = json.loads(base64.urlsafe_b64decode(jws.split(".")[1] + "=="))
        forged = sign_statement(payload, private_pem=forged_key, kid="forger")
        await connection.execute(
            text("UPDATE ledger_checkpoints SET jws = :jws, kid = 'forger'"), {"jws": forged}
        )
    outcome = await _verify(app, clinic)
    assert not outcome.ok
    assert "signature" in (outcome.failure or "")


async def test_a_failed_verification_opens_a_critical_discrepancy(
    clinic, app, clock, dialect, probe
):
    for _ in range(3):
        await clinic.post(clinic.event("receipt", "1"))
    async with probe.engine.begin() as connection:
        if dialect == "sqlite":
            await connection.execute(text("DROP TRIGGER ledger_events_no_update"))
        else:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(
            text("UPDATE ledger_events SET quantity = 5000 WHERE sequence = 2")
        )
    started = await clinic.client.post(
        "/v1/ledger/verifications", json={"registrant_id": clinic.registrant.id},
        headers=bearer(clinic.officer_token),
    )  # fmt: skip
    assert started.status_code == 202, started.text
    await _run_worker(app, clock)
    listed = await clinic.client.get(
        "/v1/discrepancies", params={"registrant_id": clinic.registrant.id,
                                     "rule": "ledger_verification_failed"},
        headers=bearer(clinic.officer_token),
    )  # fmt: skip
    [found] = listed.json()["items"]
    assert (found["severity"], found["details"]["sequence"]) == ("critical", 2)
