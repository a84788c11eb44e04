"""Each kind of event an endpoint can subscribe to reaches it, signed, with its ids."""

from datetime import date, timedelta

from app.core.jobs import Periodic
from app.worker import Worker
from tests.clinical.test_sessions import discharge_body, monitored
from tests.clinical.ward import open_ward
from tests.conftest import bearer
from tests.integrations.webhooks.conftest import Hooks
from tests.integrations.webhooks.receiver import Received
from tests.pharmacy.dispensary import open_dispensary
from tests.reconciliation.test_discrepancies import move, stolen


def _received(hooks: Hooks, name: str) -> list[Received]:
    """In sequence: deliveries sent together arrive in any order."""
    received = sorted(hooks.receiver.of(name), key=lambda item: item.envelope["sequence"])
    assert all(item.verified for item in received)
    return received


def _types(hooks: Hooks, name: str) -> list[str]:
    return [item.envelope["type"] for item in _received(hooks, name)]


async def test_discrepancies_runs_and_checkpoints(hooks: Hooks):
    clinic = hooks.clinic
    _, name = await hooks.endpoint("discrepancy.opened", "discrepancy.transitioned",
                                   "reconciliation.run.finished",
                                   "ledger.checkpoint.published")  # fmt: skip
    _event, found = await stolen(clinic, hooks.app, hooks.clock)
    moved = await move(clinic, found, to="acknowledged")
    assert moved.status_code == 200, moved.text
    run = await clinic.client.post(
        "/v1/reconciliation/runs",
        json={"registrant_id": clinic.registrant.id, "first_day": "2026-03-01",
              "last_day": "2026-03-01"},
        headers=bearer(clinic.officer_token) | {"Idempotency-Key": "run-1"},
    )  # fmt: skip
    assert run.status_code == 202, run.text
    signing = (Periodic("sign_checkpoints", timedelta(minutes=15)),)
    await Worker(hooks.app.state.database, hooks.app.state.settings, hooks.clock,
                 periodic=signing).run_until_idle()  # fmt: skip
    assert set(_types(hooks, name)) == {
        "discrepancy.opened", "discrepancy.transitioned", "ledger.checkpoint.published",
        "reconciliation.run.finished",
    }  # fmt: skip
    by_type = {r.envelope["type"]: r.envelope["data"] for r in reversed(_received(hooks, name))}
    assert by_type["discrepancy.opened"]["discrepancy_id"] == found["id"]
    assert by_type["discrepancy.opened"]["rule"] == "theft"
    transitioned = by_type["discrepancy.transitioned"]
    assert (transitioned["from_status"], transitioned["status"]) == ("open", "acknowledged")
    assert by_type["reconciliation.run.finished"]["run_id"] == run.json()["id"]
    assert by_type["ledger.checkpoint.published"]["tree_size"] == 2


async def test_a_fill_is_announced(client, admin_token, token, clock, hooks: Hooks):
    dispensary = await open_dispensary(client, admin_token, token, clock)
    _, name = await hooks.endpoint("prescription.filled", "ledger.event.dispense",
                                   registrant_id=dispensary.id)  # fmt: skip
    rx = await dispensary.receive()
    filled = await dispensary.fill(rx, dispensary.fill_body(dispensary.on(date(2026, 3, 2))))
    assert filled.status_code == 201, filled.text
    await hooks.work()
    assert _types(hooks, name) == ["ledger.event.dispense", "prescription.filled"]
    fill = filled.json()["fills"][-1]
    data = _received(hooks, name)[1].envelope["data"]
    assert (data["prescription_id"], data["fill_id"], data["event_id"]) == (
        rx["id"], fill["id"], fill["event_id"],
    )  # fmt: skip


async def test_a_discharge_is_announced(client, admin_token, token, hooks: Hooks):
    ward = await open_ward(client, admin_token, token)
    _, name = await hooks.endpoint("session.discharged", registrant_id=ward.id)
    ts = await monitored(ward)
    discharged = await ward.step(ts, "discharge", discharge_body(131))
    await hooks.work()
    assert _types(hooks, name) == ["session.discharged"]
    data = hooks.receiver.of(name)[0].envelope["data"]
    assert (data["session_id"], data["patient_id"]) == (ts["id"], ts["patient_id"])
    assert discharged["status"] == "discharged"
