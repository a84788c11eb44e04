"""Deliveries to a real receiver: signed, retried, leased, disabled, redelivered."""

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.integrations.webhooks.models import WebhookAttempt
from app.ledger import service as ledger
from app.ledger.schemas import EventCreate
from app.worker import Worker
from tests.conftest import bearer
from tests.integrations.webhooks.conftest import Hooks


async def test_every_committed_event_arrives_signed_in_sequence(hooks: Hooks):
    endpoint, name = await hooks.endpoint("ledger.event.receipt", "ledger.event.dispense")
    events = [await hooks.receipt(str(n)) for n in (10, 20, 30)]
    await hooks.work()

    # Sent at once, they arrive in any order: receivers order them by sequence.
    received = sorted(hooks.receiver.of(name), key=lambda item: item.envelope["sequence"])
    assert [item.verified for item in received] == [True, True, True]
    envelopes = [item.envelope for item in received]
    assert [e["sequence"] for e in envelopes] == [1, 2, 3]
    assert [e["data"]["id"] for e in envelopes] == [event["id"] for event in events]
    assert [e["data"]["quantity"] for e in envelopes] == ["10", "20", "30"]
    shown = await hooks.client.get(f"/v1/ledger/events/{events[0]['id']}",
                                   headers=bearer(hooks.clinic.nurse_token))  # fmt: skip
    without_snapshot = {k: v for k, v in shown.json().items() if k != "snapshot"}
    assert envelopes[0]["data"] == without_snapshot  # the event as the API shows it
    first = envelopes[0]
    assert first["type"] == "ledger.event.receipt"
    assert (first["version"], first["registrant_id"]) == (1, hooks.clinic.registrant.id)
    assert first["id"] == received[0].webhook_id
    assert "patient" not in first["data"]
    assert "fhir" not in first
    assert [d["status"] for d in await hooks.deliveries(endpoint)] == ["delivered"] * 3


async def test_only_subscribed_types_of_this_registrant_are_sent(hooks: Hooks, client,
                                                                 admin_token, token):  # fmt: skip
    _, receipts = await hooks.endpoint("ledger.event.receipt")
    _, counts = await hooks.endpoint("ledger.event.count")
    _, disabled = await hooks.endpoint("ledger.event.receipt", enabled=False)
    from tests.ledger.conftest import open_clinic

    other = await open_clinic(client, admin_token, token, name="Another Clinic")
    assert (await other.post(other.event("receipt"))).status_code == 201
    await hooks.receipt()
    await hooks.work()
    assert len(hooks.receiver.of(receipts)) == 1
    assert hooks.receiver.of(counts) == hooks.receiver.of(disabled) == []


async def test_a_rolled_back_change_sends_nothing(hooks: Hooks, app, clock):
    _, name = await hooks.endpoint("ledger.event.receipt")
    registrant_id = uuid.UUID(hooks.clinic.registrant.id)
    principal = Principal(subject="nurse-1", name="Nora Nurse", roles=frozenset({Role.clinician}),
                          registrant_ids=frozenset({registrant_id}))  # fmt: skip
    caller = Caller.at(principal, clock, app.state.settings)
    event = EventCreate.model_validate(hooks.clinic.event("receipt"))
    async with app.state.database.session(write=True) as session:
        await ledger.append(session, event, caller)  # never committed
    await hooks.work()
    assert hooks.receiver.of(name) == []

    async with app.state.database.transaction() as session:
        committed = await ledger.append(session, event, caller)
    await hooks.work()
    assert [r.envelope["data"]["id"] for r in hooks.receiver.of(name)] == [str(committed["id"])]


async def test_while_the_receiver_fails_deliveries_retry_and_arrive_when_it_is_back(hooks: Hooks):
    endpoint, name = await hooks.endpoint("ledger.event.receipt")
    hooks.receiver.answers[name] = 503
    await hooks.receipt()
    await hooks.work()
    await hooks.work()  # not due again yet
    [delivery] = await hooks.deliveries(endpoint)
    assert (delivery["status"], delivery["attempt_count"]) == ("pending", 1)
    assert delivery["attempts"][0]["status_code"] == 503
    first_wait = _at(delivery["next_attempt_at"]) - hooks.clock.now()
    assert timedelta(seconds=4) <= first_wait <= timedelta(seconds=6)  # 5 s, jitter 20 %

    hooks.clock.advance(timedelta(seconds=6))
    await hooks.work()
    [delivery] = await hooks.deliveries(endpoint)
    assert delivery["attempt_count"] == 2
    assert timedelta(minutes=4) <= _at(delivery["next_attempt_at"]) - hooks.clock.now()

    del hooks.receiver.answers[name]
    hooks.clock.advance(timedelta(minutes=6))
    await hooks.work()
    [delivery] = await hooks.deliveries(endpoint)
    assert (delivery["status"], delivery["attempt_count"]) == ("delivered", 3)
    received = hooks.receiver.of(name)
    assert [item.verified for item in received] == [True] * 3
    assert len({item.webhook_id for item in received}) == 1  # the same id at every attempt


async def test_a_stopped_receiver_gets_the_delivery_once_it_runs_again(hooks: Hooks):
    endpoint, name = await hooks.endpoint("ledger.event.receipt")
    hooks.receiver.stop()
    try:
        await hooks.receipt()
        await hooks.work()
    finally:
        hooks.receiver.start()
    [delivery] = await hooks.deliveries(endpoint)
    assert delivery["attempts"][0]["status_code"] is None
    assert delivery["attempts"][0]["error"].startswith("ConnectError")
    hooks.clock.advance(timedelta(seconds=10))
    await hooks.work()
    assert [item.verified for item in hooks.receiver.of(name)] == [True]


async def test_the_retries_end_after_the_schedule(hooks: Hooks):
    endpoint, name = await hooks.endpoint("ledger.event.receipt")
    hooks.receiver.answers[name] = 500
    await hooks.receipt()
    schedule = hooks.app.state.settings.webhook_retry_schedule_seconds
    for _ in range(len(schedule) + 1):
        await hooks.work()
        hooks.clock.advance(timedelta(seconds=max(schedule) * 1.3))
    await hooks.work()
    [delivery] = await hooks.deliveries(endpoint)
    assert (delivery["status"], delivery["attempt_count"]) == ("failed", len(schedule) + 1)
    assert delivery["next_attempt_at"] is None
    assert sum(schedule) / 86400 == pytest.approx(3, abs=0.1)  # about three days


async def test_a_worker_killed_mid_delivery_leaves_it_to_another_with_the_same_id(hooks: Hooks):
    endpoint, name = await hooks.endpoint("ledger.event.receipt")
    await hooks.receipt()
    doomed = Worker(hooks.app.state.database, hooks.app.state.settings, hooks.clock,
                    periodic=(), name="doomed")  # fmt: skip
    while await doomed.run_once():  # the fan-out, but no delivery yet
        pass
    async with hooks.app.state.database.transaction() as session:
        [claimed] = await doomed.deliverer._claim(session)
    await doomed.deliverer._send(claimed)  # sent; the worker dies before recording it
    await doomed.deliverer.aclose()

    await hooks.work()
    assert len(hooks.receiver.of(name)) == 1  # leased: nobody else sends it meanwhile
    hooks.clock.advance(timedelta(seconds=hooks.app.state.settings.webhook_timeout_seconds + 31))
    await hooks.work()
    received = hooks.receiver.of(name)
    assert [item.webhook_id for item in received] == [received[0].webhook_id] * 2
    [delivery] = await hooks.deliveries(endpoint)
    assert (delivery["status"], delivery["attempt_count"]) == ("delivered", 1)


def _at(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


async def _patch(hooks: Hooks, endpoint: dict[str, Any], **changes):
    response = await hooks.client.patch(
        f"/v1/webhooks/endpoints/{endpoint['id']}", json=changes,
        headers=bearer(hooks.admin_token),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_endpoint_failing_long_enough_is_disabled_and_says_so(hooks: Hooks):
    settings = hooks.app.state.settings
    failing, name = await hooks.endpoint("ledger.event.receipt")
    watcher, watching = await hooks.endpoint("webhook.endpoint.disabled")
    hooks.receiver.answers[name] = 500
    for _ in range(settings.webhook_disable_after_failures):
        await hooks.receipt()
    await hooks.work()
    assert (await hooks.get(f"/v1/webhooks/endpoints/{failing['id']}"))["enabled"]  # not for long
    hooks.clock.advance(timedelta(hours=settings.webhook_disable_after_hours))
    await hooks.receipt()
    await hooks.work()

    shown = await hooks.get(f"/v1/webhooks/endpoints/{failing['id']}")
    assert (shown["enabled"], shown["disabled_at"]) == (False, hooks.clock.now().isoformat()
                                                       .replace("+00:00", "Z"))  # fmt: skip
    assert shown["consecutive_failures"] > settings.webhook_disable_after_failures
    [said] = hooks.receiver.of(watching)
    assert (said.verified, said.envelope["type"]) == (True, "webhook.endpoint.disabled")
    assert said.envelope["data"]["endpoint_id"] == failing["id"]
    statuses = {d["status"] for d in await hooks.deliveries(failing)}
    assert statuses == {"failed"}

    attempts = len(hooks.receiver.of(name))
    hooks.clock.advance(timedelta(days=1))
    await hooks.receipt()
    await hooks.work()
    assert len(hooks.receiver.of(name)) == attempts  # a disabled endpoint gets no more attempts
    assert watcher["enabled"]


async def test_a_redelivery_sends_one_again_with_its_id(hooks: Hooks):
    endpoint, name = await hooks.endpoint("ledger.event.receipt")
    await hooks.receipt()
    await hooks.work()
    [delivery] = await hooks.deliveries(endpoint)
    response = await hooks.client.post(
        f"/v1/webhooks/deliveries/{delivery['id']}/redeliveries",
        headers=bearer(hooks.admin_token) | {"Idempotency-Key": "again-1"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    await hooks.work()
    received = hooks.receiver.of(name)
    assert [r.webhook_id for r in received] == [delivery["message_id"]] * 2
    assert received[0].body == received[1].body


async def test_a_redelivery_since_a_time_includes_what_was_missed_while_disabled(hooks: Hooks):
    endpoint, name = await hooks.endpoint("ledger.event.receipt")
    before = await hooks.receipt("1")
    await hooks.work()
    hooks.clock.advance(timedelta(hours=1))
    since = hooks.clock.now()
    await _patch(hooks, endpoint, enabled=False)
    missed = [await hooks.receipt("2"), await hooks.receipt("3")]
    await hooks.work()
    assert len(hooks.receiver.of(name)) == 1

    refused = await _redeliver_since(hooks, endpoint, since)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("webhook-endpoint-disabled")
    await _patch(hooks, endpoint, enabled=True)
    response = await _redeliver_since(hooks, endpoint, since)
    assert response.status_code == 202, response.text
    assert response.json()["queued"] == 2
    await hooks.work()
    envelopes = sorted((r.envelope for r in hooks.receiver.of(name)), key=lambda e: e["sequence"])
    assert [e["data"]["id"] for e in envelopes] == [before["id"], *(m["id"] for m in missed)]
    assert [e["sequence"] for e in envelopes] == [1, 2, 3]


async def _redeliver_since(hooks: Hooks, endpoint: dict[str, Any], since):
    return await hooks.client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/redeliveries",
        json={"since": since.isoformat()},
        headers=bearer(hooks.admin_token) | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def test_a_rotated_secret_overlaps_then_only_the_new_one_signs(hooks: Hooks):
    endpoint, name = await hooks.endpoint("ledger.event.receipt")
    old = hooks.receiver.secrets[name]
    response = await hooks.client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/secret-rotations", json={"overlap_hours": 2},
        headers=bearer(hooks.admin_token) | {"Idempotency-Key": "rotate-1"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    new = response.json()["secret"]
    assert new != old[0]
    assert new.startswith("whsec_")
    await hooks.receipt()
    await hooks.work()
    [during] = hooks.receiver.of(name)
    assert during.verified  # the receiver still holds only the old secret
    assert len(during.headers["webhook-signature"].split(" ")) == 2

    hooks.clock.advance(timedelta(hours=2))
    await hooks.receipt()
    await hooks.work()
    after = hooks.receiver.of(name)[1]
    assert not after.verified
    hooks.receiver.secrets[name] = [new]
    assert hooks.receiver._verified(name, after.body, after.headers)


async def test_patient_data_goes_only_to_an_endpoint_allowed_it(hooks: Hooks):
    _, plain = await hooks.endpoint("ledger.event.administer")
    _, allowed = await hooks.endpoint("ledger.event.administer", include_patient_data=True)
    await hooks.receipt("20")
    patient = hooks.clinic.patient
    given = hooks.clinic.event("administer", "7.5", patient_id=patient.id)
    assert (await hooks.clinic.post(given)).status_code == 201
    await hooks.work()
    [without] = hooks.receiver.of(plain)
    [with_data] = hooks.receiver.of(allowed)
    assert without.envelope["data"]["patient_id"] == patient.id
    assert patient.family_name.encode() not in without.body
    assert {"patient", "snapshot"}.isdisjoint(without.envelope["data"])
    shown = with_data.envelope["data"]["patient"]
    assert (shown["id"], shown["family_name"]) == (patient.id, patient.family_name)


async def test_patient_data_turned_off_is_not_sent_again_even_in_a_retry(hooks: Hooks):
    endpoint, name = await hooks.endpoint("ledger.event.administer", include_patient_data=True)
    await hooks.receipt("20")
    patient = hooks.clinic.patient
    given = hooks.clinic.event("administer", "1", patient_id=patient.id)
    assert (await hooks.clinic.post(given)).status_code == 201
    hooks.receiver.answers[name] = 503
    await hooks.work()
    await _patch(hooks, endpoint, include_patient_data=False)
    del hooks.receiver.answers[name]
    hooks.clock.advance(timedelta(seconds=10))
    await hooks.work()
    first, retried = hooks.receiver.of(name)
    assert patient.family_name.encode() in first.body
    assert patient.family_name.encode() not in retried.body
    assert (retried.webhook_id, retried.envelope["sequence"]) == (first.webhook_id, 1)
    [delivery] = await hooks.deliveries(endpoint)
    shown = await hooks.get(f"/v1/webhooks/deliveries/{delivery['id']}")
    assert patient.family_name not in shown["body"]


async def test_a_delivery_being_sent_is_not_queued_again(hooks: Hooks):
    endpoint, _ = await hooks.endpoint("ledger.event.receipt")
    await hooks.receipt()
    worker = Worker(hooks.app.state.database, hooks.app.state.settings, hooks.clock,
                    periodic=(), name="busy")  # fmt: skip
    while await worker.run_once():
        pass
    async with hooks.app.state.database.transaction() as session:
        [claimed] = await worker.deliverer._claim(session)
    response = await hooks.client.post(
        f"/v1/webhooks/deliveries/{claimed.id}/redeliveries",
        headers=bearer(hooks.admin_token) | {"Idempotency-Key": "in-flight"},
    )
    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("webhook-delivery-in-flight")
    stranger = await hooks.client.get(
        f"/v1/webhooks/deliveries/{claimed.id}", headers=bearer(hooks.clinic.officer_token)
    )
    assert stranger.status_code == 403, stranger.text
    assert endpoint["id"] == str(claimed.endpoint_id)


async def test_an_endpoint_asking_for_fhir_gets_the_resource_of_the_event(hooks: Hooks):
    _, name = await hooks.endpoint("ledger.event.administer", include_fhir=True)
    await hooks.receipt("20")
    patient = hooks.clinic.patient
    given = hooks.clinic.event("administer", "1", patient_id=patient.id)
    assert (await hooks.clinic.post(given)).status_code == 201
    await hooks.work()
    [received] = hooks.receiver.of(name)
    resource = received.envelope["fhir"]
    assert resource["resourceType"] == "MedicationAdministration"
    assert resource["subject"]["reference"] == f"Patient/{patient.id}"
    assert patient.family_name.encode() not in received.body


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_workers_at_once_share_the_deliveries_and_send_each_once(hooks: Hooks):
    settings = hooks.app.state.settings
    endpoints = [await hooks.endpoint("ledger.event.receipt") for _ in range(3)]
    for _ in range(20):
        await hooks.receipt("1")
    workers = [Worker(hooks.app.state.database, settings, hooks.clock, periodic=(),
                      name=f"worker-{n}") for n in range(3)]  # fmt: skip
    while await workers[0].run_once():  # the fan-out: 60 deliveries
        pass
    while sum(await asyncio.gather(*(w.deliverer.deliver_batch() for w in workers))):
        pass
    for worker in workers:
        await worker.deliverer.aclose()
    ids = [r.webhook_id for _, name in endpoints for r in hooks.receiver.of(name)]
    assert len(ids) == len(set(ids)) == 60
    async with hooks.app.state.database.session(write=False) as session:
        senders = set(await session.scalars(select(WebhookAttempt.worker)))
    assert len(senders) > 1  # the load was shared
