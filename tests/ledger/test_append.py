"""Appending movements: balances, the chain, reversals, instructions and records."""

from datetime import timedelta

from sqlalchemy import select

from app.core import outbox
from app.ledger.messages import LEDGER_EVENT_APPENDED
from tests.conftest import START, bearer
from tests.factories import assert_problem


async def test_a_receipt_adds_and_an_administration_takes(clinic):
    received = await clinic.post(clinic.event("receipt", "20"))
    assert received.status_code == 201, received.text
    given = await clinic.post(clinic.event("administer", "7.5", patient_id=clinic.patient.id))
    assert given.status_code == 201, given.text
    assert given.json()["mg"] == "375"
    assert await clinic.balance() == {clinic.vault.id: "12.5"}


async def test_a_movement_beyond_the_balance_is_refused_and_writes_nothing(clinic, probe):
    await clinic.post(clinic.event("receipt", "5"))
    before = await probe.business_rows()
    refused = await clinic.post(clinic.event("administer", "5.001"))
    assert_problem(refused, 409, "insufficient-stock")
    assert await probe.business_rows() == before


async def test_a_refusal_for_too_little_names_the_lot_the_place_and_the_numbers(clinic):
    await clinic.post(clinic.event("receipt", "5"))
    alone = await clinic.post(clinic.event("administer", "7.25"))
    batched = await clinic.client.post(
        "/v1/ledger/events:batch", json={"events": [clinic.event("administer", "7.25")]},
        headers=bearer(clinic.nurse_token) | {"Idempotency-Key": "batch-too-much"},
    )  # fmt: skip
    for refused, prefix in ((alone, ""), (batched, "events[0]: ")):
        problem = assert_problem(refused, 409, "insufficient-stock")
        assert problem["detail"] == (
            f"{prefix}not enough of lot L-100 at Vault: 5 mL on hand, 7.25 mL requested"
        )
        named = {k: problem[k] for k in ("lot_number", "location_name", "on_hand", "requested",
                                         "unit", "lot_id", "location_id")}  # fmt: skip
        assert named == {"lot_number": "L-100", "location_name": "Vault", "on_hand": "5",
                         "requested": "7.25", "unit": "mL", "lot_id": clinic.lot.id,
                         "location_id": clinic.vault.id}  # fmt: skip


async def test_a_refused_take_leaves_its_audit_row_and_no_key_so_a_retry_can_succeed(clinic, probe):
    """On PostgreSQL the take is sent with the audit row, after the answer was built: its
    refusal must still roll all of it back, then be audited as refused."""
    headers = bearer(clinic.nurse_token) | {"Idempotency-Key": "take-once"}
    take = clinic.event("administer", "5")
    refused = await clinic.client.post("/v1/ledger/events", json=take, headers=headers)
    assert_problem(refused, 409, "insufficient-stock")
    (audit,) = await probe.audit_rows(refused.headers["x-request-id"])
    assert (audit.kind, audit.status_code) == ("refused", 409)
    assert audit.problem_type == "urn:csledger:problem:insufficient-stock"
    await clinic.post(clinic.event("receipt", "5"))
    retried = await clinic.client.post("/v1/ledger/events", json=take, headers=headers)
    assert retried.status_code == 201, retried.text
    assert retried.json()["sequence"] == 2  # after the receipt: the refusal took no number
    assert await clinic.balance() == {}  # all taken


async def test_a_move_changes_both_locations(clinic):
    await clinic.post(clinic.event("receipt", "10"))
    moved = await clinic.post(clinic.event("move", "4", to_location_id=clinic.room.id))
    assert moved.status_code == 201, moved.text
    assert await clinic.balance() == {clinic.vault.id: "6", clinic.room.id: "4"}


async def test_events_chain_from_genesis(clinic):
    first = (await clinic.post(clinic.event("receipt"))).json()
    second = (await clinic.post(clinic.event("administer", "1"))).json()
    assert (first["sequence"], second["sequence"]) == (1, 2)
    assert first["prev_hash"] == "0" * 64
    assert second["prev_hash"] == first["hash"]


async def test_a_reversal_restores_exactly_what_its_event_moved(clinic):
    await clinic.post(clinic.event("receipt", "10"))
    moved = (await clinic.post(clinic.event("move", "4", to_location_id=clinic.room.id))).json()
    reversal = {
        "registrant_id": clinic.registrant.id,
        "type": "reversal",
        "reverses_event_id": moved["id"],
        "reason": "entered against the wrong room",
        "occurred_at": START.isoformat(),
    }
    undone = await clinic.post(reversal, clinic.officer_token)
    assert undone.status_code == 201, undone.text
    assert await clinic.balance() == {clinic.vault.id: "10"}
    again = await clinic.post(reversal, clinic.officer_token)
    assert_problem(again, 409, "already-reversed")


async def test_an_unwitnessed_waste_instruction_is_refused_unless_overridden(clinic):
    await clinic.post(clinic.event("receipt", "10"))
    refused = await clinic.post(clinic.event("waste", "1"))
    body = assert_problem(refused, 422, "witness-missing")
    assert body["broken_rules"] == ["witness_missing"]
    overridden = await clinic.post(
        clinic.event("waste", "1", override_reason="second nurse called away to a code")
    )
    assert overridden.status_code == 201
    assert overridden.json()["broken_rules"] == ["witness_missing"]


async def test_a_late_entry_is_a_record_stored_with_the_rules_it_breaks(clinic):
    await clinic.post(clinic.event("receipt", "10"))
    late = START - timedelta(days=3)
    stored = await clinic.post(clinic.event("waste", "1", occurred_at=late.isoformat()))
    assert stored.status_code == 201, stored.text
    assert stored.json()["is_record"] is True
    assert stored.json()["broken_rules"] == ["witness_missing"]


async def test_a_witness_confirms_with_their_own_token(clinic):
    await clinic.post(clinic.event("receipt", "10"))
    waste = (
        await clinic.post(clinic.event("waste", "0.5", witness_ids=[clinic.witness.id]))
    ).json()
    assert waste["witness_status"] == "unwitnessed"
    path = f"/v1/ledger/events/{waste['id']}/witness-confirmations"
    by_performer = await clinic.client.post(
        path, headers={"Authorization": f"Bearer {clinic.nurse_token}"}
    )
    assert_problem(by_performer, 409, "not-a-witness")
    confirmed = await clinic.client.post(
        path, headers={"Authorization": f"Bearer {clinic.witness_token}"}
    )
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["witness_status"] == "witnessed"


async def test_balance_as_of_an_instant_counts_only_what_had_occurred(clinic):
    await clinic.post(
        clinic.event("receipt", "10", occurred_at=(START - timedelta(hours=2)).isoformat())
    )
    await clinic.post(
        clinic.event("administer", "3", occurred_at=(START - timedelta(hours=1)).isoformat())
    )
    between = (START - timedelta(minutes=90)).isoformat()
    assert await clinic.balance(as_of=between) == {clinic.vault.id: "10"}
    assert await clinic.balance() == {clinic.vault.id: "7"}


async def test_ledger_writes_need_an_idempotency_key(clinic):
    response = await clinic.client.post(
        "/v1/ledger/events",
        json=clinic.event("receipt"),
        headers={"Authorization": f"Bearer {clinic.nurse_token}"},
    )
    assert_problem(response, 428, "precondition-required")


async def test_every_ledger_event_is_announced(clinic, probe):
    await clinic.post(clinic.event("receipt", "1"))
    await clinic.post(clinic.event("administer", "1"))
    async with probe.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(outbox.OutboxMessage.topic, outbox.OutboxMessage.payload).order_by(
                    outbox.OutboxMessage.id
                )
            )
        ).all()
    assert [(topic, payload["sequence"]) for topic, payload in rows] == [
        (LEDGER_EVENT_APPENDED, 1),
        (LEDGER_EVENT_APPENDED, 2),
    ]


async def test_a_count_may_find_nothing_but_a_movement_moves_something(clinic):
    count = {
        "inventory_id": "6a1f0e1e-0000-4000-8000-000000000001",
        "inventory_kind": "initial",
        "taken_at": "opening_of_business",
        "exactness": "exact",
        "counted_by": clinic.nurse.id,
    }
    counted = await clinic.post(clinic.event("count", "0", count=count))
    assert counted.status_code == 201, counted.text
    assert await clinic.balance() == {}
    refused = await clinic.post(clinic.event("receipt", "0"))
    assert_problem(refused, 422, "invalid-input", pointer="#/quantity")


async def test_a_count_names_who_counted_among_the_staff(clinic):
    count = {
        "inventory_id": "6a1f0e1e-0000-4000-8000-000000000002",
        "inventory_kind": "biennial",
        "taken_at": "close_of_business",
        "exactness": "estimated",
        "counted_by": clinic.patient.id,
    }
    refused = await clinic.post(clinic.event("count", "3", count=count))
    assert_problem(refused, 422, "invalid-reference", pointer="#/count/counted_by/0")
    count["counted_by"] = clinic.witness.id
    counted = await clinic.post(clinic.event("count", "3", count=count))
    assert counted.json()["snapshot"]["counted_by"]["name"] == "Wes Witness"
