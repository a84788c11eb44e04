"""Batches of movements (``POST /v1/ledger/events:batch``): up to a thousand events in one
transaction, all or nothing, each checked as a single append would check it.

Every test runs on SQLite and PostgreSQL, except those racing writers (PostgreSQL only).
"""

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core import outbox
from app.ledger import keys, merkle, rows
from app.ledger.messages import LEDGER_EVENT_APPENDED
from app.ledger.verification import Outcome, verify_registrant
from app.worker import Worker
from tests.conftest import START, TokenFactory, bearer
from tests.factories import (
    assert_problem,
    assert_refused,
    create,
)
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import (
    appended,
    balance_rows,
    chain_break,
    key,
    lowest_running_balance,
    posting_sums,
    reversal_body,
    stored_chain,
)

BATCH = "/v1/ledger/events:batch"
EVENTS = "/v1/ledger/events"
PROBLEM = "urn:csledger:problem:"
Body = dict[str, Any]
on_postgresql = pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)

LOSS = {"discovered_at": START.isoformat(), "kind": "other"}
OVERRIDE = "second nurse called away to a code"


# Sending


def keyed(token_value: str) -> dict[str, str]:
    """Headers of a ledger write: the token and a fresh Idempotency-Key."""
    return bearer(token_value) | {"Idempotency-Key": f"key-{uuid.uuid4()}"}


async def send_batch(client: httpx.AsyncClient, token_value: str, events: list[Body]) -> Any:
    return await client.post(BATCH, json={"events": events}, headers=keyed(token_value))


async def batch_items(client: httpx.AsyncClient, token_value: str, events: list[Body]) -> Any:
    """Send ``events`` as one batch, expecting 201; the receipts, one per event."""
    response = await send_batch(client, token_value, events)
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert len(items) == len(events)
    return items


async def refused_batch(
    client: httpx.AsyncClient,
    probe: Any,
    token_value: str,
    events: list[Body],
    *,
    status: int,
    problem: str,
    subject: str,
) -> Any:
    """Send a batch that must be refused with ``problem``, writing nothing but its audit row."""
    response = await assert_refused(
        client,
        probe,
        "POST",
        BATCH,
        status=status,
        problem=PROBLEM + problem,
        subject=subject,
        headers=keyed(token_value),
        json={"events": events},
    )
    return response.json()


def pointers(problem: Body) -> list[str]:
    return [error.get("pointer") for error in problem.get("errors", [])]


# Setting up


@pytest.fixture
async def other(client, admin_token: str, token: TokenFactory) -> Clinic:
    """A second registrant, set up as ``clinic`` is."""
    return await open_clinic(client, admin_token, token, "Lone Star Ketamine Clinic")


def nurse_at(token: TokenFactory, *clinics: Clinic) -> str:
    """Nora Nurse (staff at each of ``clinics``) as clinician and compliance officer: a token
    naming several registrants that may write every type of movement."""
    registrants = [clinic.registrant.id for clinic in clinics]
    return token(["clinician", "compliance_officer"], registrants, sub="nurse-1", name="Nora")


def count_details(clinic: Clinic) -> Body:
    return {"inventory_id": str(uuid.uuid4()), "inventory_kind": "ad_hoc",
            "taken_at": "close_of_business", "exactness": "exact",
            "counted_by": clinic.witness.id}  # fmt: skip


def addressed_to(clinic: Clinic) -> Body:
    registrant = clinic.registrant
    return {"name": registrant.name, "address": registrant.address,
            "dea_number": registrant.dea_number}  # fmt: skip


def transfer_in(receiver: Clinic, sent_id: str, quantity: str) -> Body:
    return receiver.event("transfer_in", quantity, transfer_event_id=sent_id)


def every_kind_at_two(a: Clinic, b: Clinic) -> list[Body]:
    """Receipts, administrations, moves, witnessed wastes, a count, adjustments and losses at
    two registrants, interleaved. Leaves A with vault 11 and room 5.25, B with 8 and 3."""
    return [
        a.event("receipt", "20"),
        b.event("receipt", "12"),
        a.event("administer", "2.5", patient_id=a.patient.id),
        a.event("move", "6", to_location_id=a.room.id),
        b.event("move", "5", to_location_id=b.room.id),
        a.event("waste", "0.5", location_id=a.room.id, witness_ids=[a.witness.id]),
        b.event("administer", "1", location_id=b.room.id, patient_id=b.patient.id),
        b.event("waste", "0.25", location_id=b.room.id, witness_ids=[b.witness.id]),
        a.event("count", "11.5", count=count_details(a)),
        b.event("adjust", "1", adjust_direction="increase", reason="a vial found behind a shelf"),
        a.event("adjust", "0.5", adjust_direction="decrease", reason="a vial found cracked"),
        b.event("loss", "0.75", location_id=b.room.id, loss=LOSS),
        a.event("loss", "0.25", location_id=a.room.id, loss=LOSS),
    ]


# Reading back


async def balances_by_name(clinic: Clinic) -> dict[str, str]:
    """The clinic's non-zero balances of its lot, by location name ("Vault", "Room 1")."""
    names = {clinic.vault.id: "Vault", clinic.room.id: "Room 1"}
    return {names[location]: quantity for location, quantity in (await clinic.balance()).items()}


async def stored_events(clinic: Clinic, token_value: str) -> list[Body]:
    """The registrant's events as the API shows them, in chain order."""
    response = await clinic.client.get(
        EVENTS,
        params={"registrant_id": clinic.registrant.id, "limit": "200"},
        headers=bearer(token_value),
    )
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return sorted(response.json()["items"], key=lambda event: event["sequence"])


def what_happened(event: Body) -> tuple[Any, ...]:
    """What an event says, without the ids and hashes that differ between two set-ups."""
    snapshot = event["snapshot"]
    return (
        event["sequence"], event["type"], event["quantity"], event["mg"],
        snapshot["location"]["name"], (snapshot["to_location"] or {}).get("name"),
        snapshot["performer"]["name"], [w["name"] for w in snapshot["witnesses"]],
        event["is_record"], event["broken_rules"], event["witness_status"],
    )  # fmt: skip


async def verified(app: Any, registrant_id: str) -> Outcome:
    """The verification service's walk of the registrant's chain, Merkle roots and checkpoints."""
    published = {jwk["kid"]: jwk for jwk in keys.published_keys(app.state.settings)}
    async with app.state.database.session(write=False) as session:
        return await verify_registrant(session, uuid.UUID(registrant_id), keys=published)


async def ledger_messages(probe: Any) -> list[tuple[str, str, Body]]:
    """(registrant id, topic, payload) of every outbox message, oldest first."""
    message = outbox.OutboxMessage
    statement = select(message.registrant_id, message.topic, message.payload).order_by(message.id)
    async with probe.engine.connect() as connection:
        rows = await connection.execute(statement)
        return [(str(registrant_id), topic, payload) for registrant_id, topic, payload in rows]


@pytest.fixture
def next_event_ids(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[str]]:
    """``next_event_ids(n)``: the ids the service will give the next ``n`` events it builds.

    The service assigns event ids, so a client cannot name an event of its own batch; knowing
    them in advance lets a batch reverse (or receive) one of its own earlier events.
    """
    planned: list[uuid.UUID] = []

    def uuid4() -> uuid.UUID:
        return planned.pop(0) if planned else uuid.uuid4()

    monkeypatch.setattr(rows, "uuid", SimpleNamespace(uuid4=uuid4, UUID=uuid.UUID))

    def plan(count: int) -> list[str]:
        planned[:] = [uuid.uuid4() for _ in range(count)]
        return [str(event_id) for event_id in planned]

    return plan


# A batch appends what the same events appended one by one would


async def test_a_batch_over_two_registrants_answers_a_receipt_per_event_in_order(
    clinic, other, token
):
    events = every_kind_at_two(clinic, other)

    items = await batch_items(clinic.client, nurse_at(token, clinic, other), events)

    assert [(item["registrant_id"], item["type"]) for item in items] == [
        (event["registrant_id"], event["type"]) for event in events
    ]
    next_sequence: Counter[str] = Counter()
    for item in items:
        next_sequence[item["registrant_id"]] += 1
        assert item["sequence"] == next_sequence[item["registrant_id"]], item
    assert next_sequence == {clinic.registrant.id: 7, other.registrant.id: 6}
    assert [item["witness_status"] for item in items] == [
        "unwitnessed" if event["type"] == "waste" else "not_required" for event in events
    ]
    assert {(item["is_record"], tuple(item["broken_rules"])) for item in items} == {(False, ())}
    assert await balances_by_name(clinic) == {"Vault": "11", "Room 1": "5.25"}
    assert await balances_by_name(other) == {"Vault": "8", "Room 1": "3"}


async def test_a_batch_leaves_what_the_same_events_appended_one_by_one_leave(
    client, admin_token, token, app
):
    batched = [await open_clinic(client, admin_token, token, f"Batched {n}") for n in (1, 2)]
    single = [await open_clinic(client, admin_token, token, f"One by one {n}") for n in (1, 2)]

    batch_token = nurse_at(token, *batched)
    items = await batch_items(client, batch_token, every_kind_at_two(*batched))
    single_token = nurse_at(token, *single)
    one_by_one = []
    for body in every_kind_at_two(*single):
        response = await client.post(EVENTS, json=body, headers=keyed(single_token))
        assert response.status_code == 201, response.text
        one_by_one.append(response.json())

    left = [{"Vault": "11", "Room 1": "5.25"}, {"Vault": "8", "Room 1": "3"}]
    assert [await balances_by_name(clinic) for clinic in batched] == left
    assert [await balances_by_name(clinic) for clinic in single] == left
    for in_batch, alone in zip(batched, single, strict=True):
        assert [what_happened(e) for e in await stored_events(in_batch, batch_token)] == [
            what_happened(e) for e in await stored_events(alone, single_token)
        ]
    assert {item["hash"] for item in items}.isdisjoint(event["hash"] for event in one_by_one)
    outcomes = [await verified(app, clinic.registrant.id) for clinic in (*batched, *single)]
    assert [(o.ok, o.events, o.failure) for o in outcomes] == [
        (True, 7, None), (True, 6, None), (True, 7, None), (True, 6, None),
    ]  # fmt: skip


# All or nothing: a refusal names the failing event and writes nothing


async def test_a_take_beyond_what_earlier_events_of_the_batch_left_refuses_the_batch(clinic, probe):
    await appended(clinic, clinic.event("receipt", "5"))
    events = [
        clinic.event("receipt", "2"),
        clinic.event("administer", "4"),
        clinic.event("administer", "3.001"),  # 5 + 2 - 4 = 3 are left
        clinic.event("receipt", "10"),  # too late: events count in the order sent
    ]

    problem = await refused_batch(
        clinic.client, probe, clinic.nurse_token, events,
        status=409, problem="insufficient-stock", subject="nurse-1",
    )  # fmt: skip

    assert problem["index"] == 2
    assert pointers(problem) == ["#/events/2"]
    assert problem["detail"].startswith("events[2]: ")
    assert await clinic.balance() == {clinic.vault.id: "5"}
    accepted = await batch_items(clinic.client, clinic.nurse_token, [*events[:2], events[3]])
    assert [item["sequence"] for item in accepted] == [2, 3, 4]
    assert await clinic.balance() == {clinic.vault.id: "13"}


def _others_lot(clinic: Clinic, other: Clinic) -> tuple[Body, str]:
    return {"lot_id": other.lot.id}, "lot_id"


def _others_location(clinic: Clinic, other: Clinic) -> tuple[Body, str]:
    return {"location_id": other.vault.id}, "location_id"


def _unknown_patient(clinic: Clinic, other: Clinic) -> tuple[Body, str]:
    return {"patient_id": str(uuid.uuid4())}, "patient_id"


def _others_witness(clinic: Clinic, other: Clinic) -> tuple[Body, str]:
    return {"type": "waste", "witness_ids": [other.witness.id]}, "witness_ids/0"


@pytest.mark.parametrize(
    "wrong", [_others_lot, _others_location, _unknown_patient, _others_witness],
    ids=lambda wrong: wrong.__name__.strip("_"),
)  # fmt: skip
async def test_an_invalid_reference_in_the_middle_refuses_the_batch(clinic, other, probe, wrong):
    await appended(clinic, clinic.event("receipt", "10"))
    overrides, field = wrong(clinic, other)
    events = [
        clinic.event("administer", "1"),
        clinic.event("move", "2", to_location_id=clinic.room.id),
        clinic.event("administer", "1") | overrides,
        clinic.event("administer", "1"),
    ]

    problem = await refused_batch(
        clinic.client, probe, clinic.nurse_token, events,
        status=422, problem="invalid-reference", subject="nurse-1",
    )  # fmt: skip

    assert problem["index"] == 2
    assert pointers(problem) == [f"#/events/2/{field}"]


async def test_a_broken_compliance_rule_in_the_middle_refuses_the_batch_unless_overridden(
    clinic, probe
):
    events = [
        clinic.event("receipt", "10"),
        clinic.event("administer", "1", patient_id=clinic.patient.id),
        clinic.event("waste", "0.5"),  # an instruction with no witness
        clinic.event("administer", "1", patient_id=clinic.patient.id),
    ]

    problem = await refused_batch(
        clinic.client, probe, clinic.nurse_token, events,
        status=422, problem="witness-missing", subject="nurse-1",
    )  # fmt: skip

    assert (problem["index"], problem["broken_rules"]) == (2, ["witness_missing"])
    assert pointers(problem) == ["#/events/2"]
    events[2] |= {"override_reason": OVERRIDE}
    items = await batch_items(clinic.client, clinic.nurse_token, events)
    assert [item["broken_rules"] for item in items] == [[], [], ["witness_missing"], []]
    assert await clinic.balance() == {clinic.vault.id: "7.5"}


async def test_a_batch_naming_a_registrant_the_token_cannot_see_is_refused_as_an_append_is(
    clinic, other, probe
):
    hidden = other.event("receipt", "10")

    alone = await assert_refused(
        clinic.client, probe, "POST", EVENTS, status=404, problem=PROBLEM + "not-found",
        subject="nurse-1", headers=keyed(clinic.nurse_token), json=hidden,
    )  # fmt: skip
    problem = await refused_batch(
        clinic.client, probe, clinic.nurse_token, [clinic.event("receipt", "10"), hidden],
        status=alone.status_code, problem="not-found", subject="nurse-1",
    )  # fmt: skip

    assert problem["index"] == 1
    assert other.registrant.id not in str(problem)


async def test_a_movement_outside_the_tokens_roles_refuses_the_batch(clinic, probe):
    adjust = clinic.event("adjust", "1", adjust_direction="increase", reason="found a vial")

    problem = await refused_batch(
        clinic.client, probe, clinic.nurse_token, [clinic.event("receipt", "1"), adjust],
        status=403, problem="permission-denied", subject="nurse-1",
    )  # fmt: skip

    assert (problem["index"], pointers(problem)) == (1, ["#/events/1"])


# Events that name another event: reversals and transfers


async def test_a_batch_reverses_an_earlier_event_once(clinic, probe):
    await appended(clinic, clinic.event("receipt", "10"))
    moved = await appended(clinic, clinic.event("move", "4", to_location_id=clinic.room.id))
    reversal = reversal_body(clinic.registrant.id, moved["id"], START.isoformat())
    adjust = clinic.event("adjust", "1", adjust_direction="increase", reason="a vial found")

    problem = await refused_batch(
        clinic.client, probe, clinic.officer_token, [reversal, adjust, reversal],
        status=409, problem="already-reversed", subject="officer-1",
    )  # fmt: skip
    assert (problem["index"], pointers(problem)) == (2, ["#/events/2"])

    items = await batch_items(clinic.client, clinic.officer_token, [reversal])
    assert [(item["type"], item["sequence"]) for item in items] == [("reversal", 3)]
    assert await clinic.balance() == {clinic.vault.id: "10"}


async def test_a_reversal_needs_the_stock_earlier_events_of_the_batch_left(clinic, probe, token):
    received = await appended(clinic, clinic.event("receipt", "10"))
    moved = await appended(clinic, clinic.event("move", "4", to_location_id=clinic.room.id))
    nurse = nurse_at(token, clinic)
    # Nora undoes her own events: each reversal names her co-signer.
    co_signed = {"witness_ids": [clinic.witness.id]}
    undo_receipt = reversal_body(clinic.registrant.id, received["id"], START.isoformat()) | (
        co_signed
    )
    undo_move = reversal_body(clinic.registrant.id, moved["id"], START.isoformat()) | co_signed

    problem = await refused_batch(
        clinic.client, probe, nurse, [clinic.event("administer", "1"), undo_receipt],
        status=409, problem="insufficient-stock", subject="nurse-1",
    )  # fmt: skip
    assert problem["index"] == 1

    # The move's room balance is not among the batch's own locations: it is locked on demand.
    await batch_items(clinic.client, nurse, [clinic.event("receipt", "2"), undo_move])
    assert await clinic.balance() == {clinic.vault.id: "12"}


async def test_a_batch_reverses_its_own_earlier_event_once(clinic, probe, token, next_event_ids):
    nurse, rid, at = nurse_at(token, clinic), clinic.registrant.id, START.isoformat()

    def moved_then_undone(times: int) -> list[Body]:
        _, moved, *_ = next_event_ids(2 + times)
        return [
            clinic.event("receipt", "10"),
            clinic.event("move", "4", to_location_id=clinic.room.id),
            *(
                reversal_body(rid, moved, at) | {"witness_ids": [clinic.witness.id]}
                for _ in range(times)
            ),
        ]

    problem = await refused_batch(
        clinic.client, probe, nurse, moved_then_undone(2),
        status=409, problem="already-reversed", subject="nurse-1",
    )  # fmt: skip
    assert problem["index"] == 3

    items = await batch_items(clinic.client, nurse, moved_then_undone(1))
    assert [(item["type"], item["sequence"]) for item in items] == [
        ("receipt", 1), ("move", 2), ("reversal", 3),
    ]  # fmt: skip
    assert await clinic.balance() == {clinic.vault.id: "10"}
    events = await stored_events(clinic, nurse)
    assert events[2]["reverses_event_id"] == items[1]["id"]


async def test_a_batch_receives_a_transfer_once(clinic, other, probe):
    await appended(clinic, clinic.event("receipt", "10"))
    sent = await appended(
        clinic, clinic.event("transfer_out", "4", counterparty=addressed_to(other))
    )
    receive = transfer_in(other, sent["id"], "4")

    problem = await refused_batch(
        other.client, probe, other.nurse_token, [receive, other.event("receipt", "1"), receive],
        status=409, problem="transfer-already-received", subject="nurse-1",
    )  # fmt: skip
    assert (problem["index"], pointers(problem)) == (2, ["#/events/2"])

    items = await batch_items(other.client, other.nurse_token, [receive])
    assert (items[0]["type"], items[0]["broken_rules"]) == ("transfer_in", [])
    assert await other.balance() == {other.vault.id: "4"}
    assert await clinic.balance() == {clinic.vault.id: "6"}


async def test_a_batch_sends_and_receives_a_transfer_between_two_registrants(
    clinic, other, probe, token, next_event_ids
):
    nurse = nurse_at(token, clinic, other)

    def sent_and_received(times: int) -> list[Body]:
        _, sent, *_ = next_event_ids(2 + times)
        return [
            clinic.event("receipt", "10"),
            clinic.event("transfer_out", "4", counterparty=addressed_to(other)),
            *(transfer_in(other, sent, "4") for _ in range(times)),
        ]

    problem = await refused_batch(
        clinic.client, probe, nurse, sent_and_received(2),
        status=409, problem="transfer-already-received", subject="nurse-1",
    )  # fmt: skip
    assert problem["index"] == 3

    items = await batch_items(clinic.client, nurse, sent_and_received(1))
    assert [(item["type"], item["broken_rules"]) for item in items] == [
        ("receipt", []), ("transfer_out", []), ("transfer_in", []),
    ]  # fmt: skip
    assert await clinic.balance() == {clinic.vault.id: "6"}
    assert await other.balance() == {other.vault.id: "4"}
    received = await stored_events(other, nurse)
    assert received[0]["transfer_event_id"] == items[1]["id"]
    assert received[0]["counterparty"]["dea_number"] == clinic.registrant.dea_number


# What a batch writes besides events: outbox messages, Merkle nodes


async def test_each_event_of_a_committed_batch_is_announced_and_a_refused_one_is_not(
    clinic, other, probe, token
):
    nurse = nurse_at(token, clinic, other)
    events = [clinic.event("receipt", "3"), other.event("receipt", "2"),
              clinic.event("administer", "1")]  # fmt: skip

    items = await batch_items(clinic.client, nurse, events)
    announced = await ledger_messages(probe)
    too_much = [clinic.event("receipt", "1"), clinic.event("administer", "9")]
    await refused_batch(
        clinic.client, probe, nurse, too_much,
        status=409, problem="insufficient-stock", subject="nurse-1",
    )  # fmt: skip

    assert announced == [
        (item["registrant_id"], LEDGER_EVENT_APPENDED,
         {"event_id": item["id"], "sequence": item["sequence"], "type": item["type"]})
        for item in items
    ]  # fmt: skip
    assert await ledger_messages(probe) == announced


def tree_root(event_hashes: list[str]) -> str:
    """The RFC 9162 root of a tree of these event hashes, from the definition (section 2.1.1)."""

    def mth(leaves: list[bytes]) -> bytes:
        if len(leaves) == 1:
            return merkle.leaf_hash(leaves[0])
        split = 1 << (len(leaves) - 1).bit_length() - 1  # the largest power of two below
        return merkle.node_hash(mth(leaves[:split]), mth(leaves[split:]))

    return mth([bytes.fromhex(event_hash) for event_hash in event_hashes]).hex()


async def _proof(clinic: Clinic, path: str, **params: Any) -> Any:
    response = await clinic.client.get(
        f"/v1/ledger/proofs/{path}", params=params, headers=bearer(clinic.nurse_token)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_merkle_tree_stays_right_across_batches_of_any_size(
    clinic, other, app, clock, token
):
    nurse, rid = nurse_at(token, clinic, other), clinic.registrant.id
    receipts = (clinic.event("receipt", "1", document_reference=f"INV-{n}")
                for n in itertools.count())  # fmt: skip
    hashes: list[str] = []
    ids: list[str] = []
    roots: dict[int, str] = {}
    for size in (1, 3, 8, 5, 2):
        events = [next(receipts) for _ in range(size)]
        if size == 8:  # the other registrant's tree grows in the same batch
            events[2:2] = [other.event("receipt", "1"), other.event("receipt", "1")]
        if size == 2:  # the last two one by one: single appends continue the batches' tree
            items = [await appended(clinic, events[0]), await appended(clinic, events[1])]
        else:
            items = await batch_items(clinic.client, nurse, events)
        ours = [item for item in items if item["registrant_id"] == rid]
        hashes += [item["hash"] for item in ours]
        ids += [item["id"] for item in ours]
        tree = await _proof(clinic, "consistency", registrant_id=rid, **{"from": len(hashes)})
        assert (tree["to"], tree["to_root"]) == (len(hashes), tree_root(hashes))
        roots[len(hashes)] = tree["to_root"]

    assert list(roots) == [1, 4, 12, 17, 19]
    for old, new in itertools.combinations(roots, 2):
        proof = await _proof(clinic, "consistency", registrant_id=rid, to=new, **{"from": old})
        assert (proof["from_root"], proof["to_root"]) == (roots[old], roots[new])
        assert merkle.verify_consistency(
            old, new, bytes.fromhex(roots[old]), bytes.fromhex(roots[new]),
            [bytes.fromhex(node) for node in proof["proof"]],
        )  # fmt: skip
    for index, (event_id, event_hash) in enumerate(zip(ids, hashes, strict=True)):
        for size in (s for s in roots if s > index):
            proof = await _proof(clinic, "inclusion", event_id=event_id, tree_size=size)
            assert (proof["leaf_index"], proof["root_hash"]) == (index, roots[size])
            assert merkle.verify_inclusion(
                merkle.leaf_hash(bytes.fromhex(event_hash)), index, size,
                [bytes.fromhex(node) for node in proof["audit_path"]], bytes.fromhex(roots[size]),
            )  # fmt: skip

    await Worker(app.state.database, app.state.settings, clock).run_until_idle()
    checkpoints = (
        await clinic.client.get(
            "/v1/ledger/checkpoints",
            params={"registrant_id": rid},
            headers=bearer(clinic.officer_token),
        )
    ).json()["items"]
    assert [(c["tree_size"], c["root_hash"]) for c in checkpoints] == [(19, roots[19])]
    for site, size in ((clinic, 19), (other, 2)):
        outcome = await verified(app, site.registrant.id)
        assert (outcome.ok, outcome.events, outcome.checkpoints) == (True, size, 1), outcome


# Concurrent writers (PostgreSQL: SQLite serialises them)


STOCK = 15


@on_postgresql
async def test_concurrent_batches_and_appends_never_overdraw(clinic, probe, app):
    received = await appended(clinic, clinic.event("receipt", str(STOCK)))
    pair = [clinic.event("administer", "2"), clinic.event("administer", "1")]
    sends = [send_batch(clinic.client, clinic.nurse_token, pair) for _ in range(6)]
    sends += [clinic.post(clinic.event("administer", "1")) for _ in range(10)]

    responses = await asyncio.gather(*sends)

    acknowledged, taken, refused_singles = [received["id"]], Decimal(0), 0
    for response in responses:
        if response.status_code != 201:
            assert_problem(response, 409, "insufficient-stock")
            refused_singles += response.request.url.path == EVENTS
            continue
        body = response.json()
        if "items" in body:  # a batch: 2 + 1
            acknowledged += [item["id"] for item in body["items"]]
            taken += 3
        else:
            acknowledged.append(body["id"])
            taken += 1
    assert 0 < taken <= STOCK
    rid, vault_lot = clinic.registrant.id, key(clinic.vault.id, clinic.lot.id)
    left = STOCK - taken
    if refused_singles:  # a single take of 1 was refused, and nothing was added since
        assert left == 0
    assert await balance_rows(probe.engine, rid) == {vault_lot: left}
    assert await posting_sums(probe.engine, rid) == {vault_lot: left}
    assert await lowest_running_balance(probe.engine, rid) == {vault_lot: left}
    events = await stored_chain(probe.engine, rid)
    assert Counter(str(event.id) for event in events) == Counter(acknowledged)
    assert [event.sequence for event in events] == list(range(1, len(acknowledged) + 1))
    assert (await verified(app, rid)).ok


@on_postgresql
async def test_concurrent_batches_naming_two_registrants_in_opposite_orders_all_succeed(
    clinic, other, probe, token, app
):
    nurse = nurse_at(token, clinic, other)
    for site in (clinic, other):
        for location in (site.vault, site.room):
            await appended(site, site.event("receipt", "20", location_id=location.id))

    def there_and_back(first: Clinic, then: Clinic) -> list[Body]:
        """Vault to room at ``first``, room to vault at ``then``."""
        return [first.event("move", "1", to_location_id=first.room.id),
                then.event("move", "1", location_id=then.room.id,
                           to_location_id=then.vault.id)]  # fmt: skip

    responses = await asyncio.gather(
        *(
            send_batch(clinic.client, nurse, there_and_back(first, then))
            for _ in range(8)
            for first, then in ((clinic, other), (other, clinic))
        )
    )

    assert [r.status_code for r in responses] == [201] * 16, [r.text for r in responses]
    for site in (clinic, other):
        assert await site.balance() == {site.vault.id: "20", site.room.id: "20"}
        events = await stored_chain(probe.engine, site.registrant.id)
        appended_here = 2 + 16  # two receipts, then a move from every batch
        assert [event.sequence for event in events] == list(range(1, appended_here + 1))
        assert await chain_break(probe.engine, site.registrant.id) is None
        assert (await verified(app, site.registrant.id)).ok


@on_postgresql
async def test_concurrent_batch_reversals_and_appends_at_the_reversed_location_all_finish(
    clinic, probe, token
):
    """A reversal's balances are locked when it is reached, after the batch locked its chain
    head; appends lock a balance first, then the head."""
    nurse, rid = nurse_at(token, clinic), clinic.registrant.id
    await appended(clinic, clinic.event("receipt", "40"))
    moves = [
        await appended(clinic, clinic.event("move", "1", to_location_id=clinic.room.id))
        for _ in range(8)
    ]

    at = START.isoformat()
    co_signed = {"witness_ids": [clinic.witness.id]}
    batches = [[clinic.event("receipt", "1"), reversal_body(rid, move["id"], at) | co_signed]
               for move in moves]  # fmt: skip
    take = clinic.event("administer", "0.5", location_id=clinic.room.id)

    responses = await asyncio.gather(
        *(send_batch(clinic.client, nurse, batch) for batch in batches),
        *(clinic.post(take) for _ in range(8)),
    )

    assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "insufficient-stock")
    assert await balance_rows(probe.engine, rid) == await posting_sums(probe.engine, rid)
    assert min((await lowest_running_balance(probe.engine, rid)).values()) >= 0
    assert await chain_break(probe.engine, rid) is None


@on_postgresql
async def test_concurrent_first_receipts_of_a_lot_by_batch_and_append_all_finish(clinic, probe):
    """A batch inserts the balance rows it creates when it writes, after it locked its chain
    head; an append inserts one first, then locks the head."""
    lots = [
        await create(
            clinic.client,
            f"/v1/products/{clinic.product.id}/lots",
            {"lot_number": f"L-{n}", "expires_on": "2027-01-31"},
            clinic.nurse_token,
        )
        for n in range(6)
    ]

    def receipts() -> list[Body]:
        return [clinic.event("receipt", "1", lot_id=lot["id"]) for lot in lots]

    responses = await asyncio.gather(
        *(send_batch(clinic.client, clinic.nurse_token, [receipt]) for receipt in receipts()),
        *(clinic.post(receipt) for receipt in receipts()),
    )

    assert [r.status_code for r in responses] == [201] * 12, [r.text for r in responses]
    rows = await balance_rows(probe.engine, clinic.registrant.id)
    assert rows == {key(clinic.vault.id, lot["id"]): Decimal(2) for lot in lots}
