"""Idempotent ledger writes: replay, another body, the same key at once, all-or-nothing batches."""

import asyncio
from typing import Any

import httpx
import pytest

from app.core import idempotency
from tests.conftest import bearer
from tests.factories import assert_problem
from tests.ledger.conftest import Clinic
from tests.ledger.support import appended, stored_chain


def post(clinic: Clinic, path: str, body: Any, key: str) -> Any:
    headers = bearer(clinic.nurse_token) | {"Idempotency-Key": key}
    return clinic.client.post(path, json=body, headers=headers)


async def test_a_replayed_append_returns_the_same_event_and_appends_nothing(clinic, probe):
    body = clinic.event("receipt", "10")
    first = await post(clinic, "/v1/ledger/events", body, "receipt-1")
    assert first.status_code == 201, first.text
    written = await probe.business_rows()

    again = await post(clinic, "/v1/ledger/events", body, "receipt-1")

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await probe.business_rows() == written


async def test_the_same_key_with_another_body_is_refused_and_appends_nothing(clinic, probe):
    await post(clinic, "/v1/ledger/events", clinic.event("receipt", "10"), "receipt-1")
    written = await probe.business_rows()

    other = await post(clinic, "/v1/ledger/events", clinic.event("receipt", "11"), "receipt-1")

    assert_problem(other, 422, "idempotency-key-reused")
    assert await probe.business_rows() == written


async def test_concurrent_appends_with_one_key_append_one_event(clinic, probe):
    body = clinic.event("receipt", "10")
    responses: list[httpx.Response] = await asyncio.gather(
        *(post(clinic, "/v1/ledger/events", body, "receipt-1") for _ in range(6))
    )

    accepted = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in accepted}) == 1
    for response in responses:
        if response.status_code != 201:
            assert_problem(response, 409, "idempotency-in-flight")
    events = await stored_chain(probe.engine, clinic.registrant.id)
    assert [str(event.id) for event in events] == [accepted[0].json()["id"]]


async def test_a_batch_is_all_or_nothing_and_names_the_failing_event(clinic, probe):
    await appended(clinic, clinic.event("receipt", "5"))
    written = await probe.business_rows()
    batch = {"events": [clinic.event("administer", "2") for _ in range(3)]}

    refused = await post(clinic, "/v1/ledger/events:batch", batch, "batch-1")

    problem = assert_problem(refused, 409, "insufficient-stock")
    assert problem["index"] == 2
    pointers = [error.get("pointer") or "" for error in problem.get("errors", [])]
    assert pointers
    assert all(pointer.startswith("#/events/2") for pointer in pointers), pointers
    assert await probe.business_rows() == written


async def test_a_batch_within_the_balance_is_appended_whole(clinic):
    await appended(clinic, clinic.event("receipt", "5"))
    batch = {"events": [clinic.event("administer", "2") for _ in range(2)]}

    accepted = await post(clinic, "/v1/ledger/events:batch", batch, "batch-1")

    assert accepted.status_code == 201, accepted.text
    assert [event["sequence"] for event in accepted.json()["items"]] == [2, 3]
    assert await clinic.balance() == {clinic.vault.id: "1"}


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_a_key_stored_after_the_lookup_refuses_the_second_append_as_in_flight(
    clinic, probe, monkeypatch
):
    """The lookup's snapshot may predate the first request's commit (which released the key's
    lock a moment before): the second runs, finds the stored key when it stores its own
    (with its event, in one statement), and is rolled back whole; its retry is replayed."""
    await post(clinic, "/v1/ledger/events", clinic.event("receipt", "10"), "stock")
    body = clinic.event("administer", "1")
    first = await post(clinic, "/v1/ledger/events", body, "race")
    assert first.status_code == 201, first.text
    written = await probe.business_rows()
    find = idempotency._lock_and_find

    async def stale(session: Any, scope: str, key: str) -> None:
        await find(session, scope, key)  # takes the lock, as the real one does
        return None  # and, as a stale snapshot would, does not see the stored key

    monkeypatch.setattr(idempotency, "_lock_and_find", stale)
    second = await post(clinic, "/v1/ledger/events", body, "race")
    assert_problem(second, 409, "idempotency-in-flight")
    assert await probe.business_rows() == written
    monkeypatch.undo()
    retried = await post(clinic, "/v1/ledger/events", body, "race")
    assert (retried.status_code, retried.json()) == (201, first.json())
