"""Transfers between registrants: sent, visible to the receiver, received once."""

import pytest

from tests.conftest import bearer
from tests.factories import (
    assert_problem,
    create,
    create_registrant,
    dea_number,
    injection_body,
)


@pytest.fixture
async def receiver(client, admin_token, token):
    registrant = await create_registrant(
        client, admin_token, name="Lone Star Pharmacy", kind="pharmacy"
    )
    pharmacist = token(["pharmacist"], [registrant["id"]], sub="rph-1", name="Pat Pharmacist")
    product = await create(client, "/v1/products", injection_body(registrant["id"]), pharmacist)
    lot = await create(
        client,
        f"/v1/products/{product['id']}/lots",
        {"lot_number": "L-100", "expires_on": "2027-01-31"},
        pharmacist,
    )
    locations = f"/v1/registrants/{registrant['id']}/locations"
    vault = await create(client, locations, {"name": "Vault", "kind": "vault"}, admin_token)
    return {"registrant": registrant, "token": pharmacist, "lot": lot, "vault": vault}


def _to(receiver):
    registrant = receiver["registrant"]
    return {"name": registrant["name"], "address": registrant["address"],
            "dea_number": registrant["dea_number"]}  # fmt: skip


def _transfer_in(receiver, sent, quantity="4", **extra):
    return {
        "registrant_id": receiver["registrant"]["id"],
        "type": "transfer_in",
        "location_id": receiver["vault"]["id"],
        "lot_id": receiver["lot"]["id"],
        "quantity": quantity,
        "occurred_at": sent["occurred_at"],
        "transfer_event_id": sent["id"],
        **extra,
    }


async def _send(clinic, receiver):
    await clinic.post(clinic.event("receipt", "10"))
    sent = await clinic.post(clinic.event("transfer_out", "4", counterparty=_to(receiver)))
    assert sent.status_code == 201, sent.text
    return sent.json()


async def _incoming(clinic, receiver):
    response = await clinic.client.get(
        "/v1/ledger/transfers/incoming",
        params={"registrant_id": receiver["registrant"]["id"]},
        headers=bearer(receiver["token"]),
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_transfer_is_received_once_from_the_senders_event(clinic, receiver):
    sent = await _send(clinic, receiver)
    assert [event["id"] for event in await _incoming(clinic, receiver)] == [sent["id"]]
    received = await clinic.post(_transfer_in(receiver, sent), receiver["token"])
    assert received.status_code == 201, received.text
    assert received.json()["counterparty"]["dea_number"] == clinic.registrant.dea_number
    assert received.json()["broken_rules"] == []
    assert await _incoming(clinic, receiver) == []
    again = await clinic.post(_transfer_in(receiver, sent), receiver["token"])
    assert_problem(again, 409, "transfer-already-received")


async def test_a_transfer_addressed_elsewhere_cannot_be_received(clinic, receiver, admin_token):
    await clinic.post(clinic.event("receipt", "10"))
    elsewhere = {**_to(receiver), "dea_number": dea_number("BK")}
    sent = (await clinic.post(clinic.event("transfer_out", "4", counterparty=elsewhere))).json()
    refused = await clinic.post(_transfer_in(receiver, sent), receiver["token"])
    assert_problem(refused, 422, "invalid-reference", pointer="#/transfer_event_id")


async def test_receiving_another_quantity_needs_an_explanation(clinic, receiver):
    sent = await _send(clinic, receiver)
    short = await clinic.post(_transfer_in(receiver, sent, quantity="3"), receiver["token"])
    assert_problem(short, 422, "transfer-quantity-mismatch")
    explained = await clinic.post(
        _transfer_in(receiver, sent, quantity="3", override_reason="one vial broke in transit"),
        receiver["token"],
    )
    assert explained.status_code == 201
    assert explained.json()["broken_rules"] == ["transfer_quantity_mismatch"]
