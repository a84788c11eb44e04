"""Least privilege for integrations: each may do, at each registrant, only what its
configuration there grants; by default, sending its records."""

from typing import Any

import orjson
import pytest

from app.auth.permissions import LEAST_SCOPES, IntegrationScope
from tests.clinical.ward import Ward, at
from tests.conftest import TokenFactory, bearer
from tests.factories import PROBLEM_TYPE_PREFIX, assert_refused, create, create_registrant
from tests.integrations.fhir.support import (
    FHIR_JSON,
    Sender,
    enable_sender,
    ketamine_infusion,
    send,
)

SENDERS = "/v1/integrations/fhir-senders"
DENIED = PROBLEM_TYPE_PREFIX + "permission-denied"


def infusion(ward: Ward, sender: Sender) -> dict[str, Any]:
    return ketamine_infusion(mrn=ward.iv_patient.external_id, npi_value=sender.npi,
                             lot_number=ward.vial_lot.lot_number, start=at(10),
                             end=at(50))  # fmt: skip


async def stocked_room(ward: Ward) -> None:
    move = {"registrant_id": ward.id, "type": "move", "location_id": ward.vault.id,
            "to_location_id": ward.room.id, "lot_id": ward.vial_lot.id, "quantity": "5",
            "occurred_at": at(0)}  # fmt: skip
    assert (await ward.post("/v1/ledger/events", move)).status_code == 201


@pytest.fixture
async def least(client, admin_token, token, ward) -> Sender:
    """The clinic's EHR, configured without naming its scopes."""
    sender = await enable_sender(client, admin_token, token, ward.id, ward.room.id,
                                 role="nurse", subject="ehr-least")  # fmt: skip
    configured = await client.patch(f"{SENDERS}/{sender.sender['id']}",
                                    json={"scopes": [s.value for s in LEAST_SCOPES]},
                                    headers=bearer(admin_token))  # fmt: skip
    assert configured.status_code == 200, configured.text
    return sender


async def test_an_integration_configured_without_scopes_may_only_send_its_records(
    client, admin_token, ward
):
    body = {"registrant_id": ward.id, "subject": "ehr-new", "location_id": ward.room.id}
    configured = await create(client, SENDERS, body, admin_token)
    assert configured["scopes"] == ["send_administrations", "send_dispenses"]


async def test_with_the_least_scopes_it_sends_records_and_nothing_else(client, ward, least, probe):
    await stocked_room(ward)
    sent = await send(client, "POST", infusion(ward, least), least.token)
    assert sent.status_code == 201, sent.text
    patient = ward.iv_patient.id
    caller = bearer(least.token) | {"Idempotency-Key": "k"}
    receipt = {"registrant_id": ward.id, "type": "receipt", "location_id": ward.vault.id,
               "lot_id": ward.vial_lot.id, "quantity": "1", "occurred_at": at(0),
               "performed_by": least.staff["id"], "document_reference": "INV-9",
               "counterparty": {"name": "Supplier", "address": ward.registrant.address,
                                "dea_number": "PK1234563"}}  # fmt: skip
    for method, url, body in [
        ("GET", f"/v1/patients?registrant_id={ward.id}", None),
        ("GET", f"/v1/patients/{patient}", None),
        ("GET", f"/v1/patients/{patient}/history", None),
        ("PATCH", f"/v1/patients/{patient}", {"given_name": "Mallory"}),
        ("POST", "/v1/ledger/events", receipt),
    ]:
        refused = await assert_refused(client, probe, method, url, status=403, problem=DENIED,
                                       subject="ehr-least", headers=caller, json=body)  # fmt: skip
        assert "scope" in refused.json()["detail"]
    read_back = await client.get(f"/v1/fhir/MedicationAdministration/{sent.json()['id']}",
                                 headers=bearer(least.token))  # fmt: skip
    assert read_back.status_code == 403, read_back.text
    assert read_back.headers["content-type"] == FHIR_JSON


async def test_without_the_patient_scope_the_ledger_shows_it_no_patient(
    client, admin_token, ward, least
):
    await stocked_room(ward)
    assert (await send(client, "POST", infusion(ward, least), least.token)).status_code == 201
    params = {"registrant_id": ward.id, "patient_id": ward.iv_patient.id}
    sender = f"{SENDERS}/{least.sender['id']}"
    for scopes, shown in (([], False), (["read_patients"], True)):
        await client.patch(sender, json={"scopes": [s.value for s in LEAST_SCOPES] + scopes},
                           headers=bearer(admin_token))  # fmt: skip
        listed = await client.get("/v1/ledger/events", params=params, headers=bearer(least.token))
        assert listed.status_code == 200, listed.text
        [given] = [e for e in listed.json()["items"] if e["type"] == "administer"]
        assert (given["snapshot"]["patient"] is not None) is shown
        assert given["withheld"] == ([] if shown else ["snapshot.patient"])


async def test_an_integration_configured_nowhere_may_do_nothing(client, ward, token, probe):
    stranger = token(["integration"], [ward.id], sub="ehr-unknown", name="Unknown EHR")
    await assert_refused(client, probe, "GET", f"/v1/patients?registrant_id={ward.id}",
                         status=403, problem=DENIED, subject="ehr-unknown",
                         headers=bearer(stranger))  # fmt: skip


async def test_each_patient_scope_grants_what_it_says(client, admin_token, ward, least, probe):
    patient = f"/v1/patients/{ward.iv_patient.id}"
    sender = f"{SENDERS}/{least.sender['id']}"
    await client.patch(sender, json={"scopes": ["read_patients"]}, headers=bearer(admin_token))
    listed = await client.get("/v1/patients", params={"registrant_id": ward.id},
                              headers=bearer(least.token))  # fmt: skip
    assert listed.status_code == 200, listed.text
    assert (await client.get(patient, headers=bearer(least.token))).status_code == 200
    await assert_refused(client, probe, "PATCH", patient, status=403, problem=DENIED,
                         subject="ehr-least", headers=bearer(least.token),
                         json={"given_name": "Mallory"})  # fmt: skip

    granted = await client.patch(sender, json={"scopes": ["read_patients", "write_patients"]},
                                 headers=bearer(admin_token))  # fmt: skip
    assert granted.json()["scopes"] == ["read_patients", "write_patients"]
    changed = await client.patch(patient, json={"given_name": "Margaret"},
                                 headers=bearer(least.token))  # fmt: skip
    assert changed.status_code == 200, changed.text

    withdrawn = await client.patch(sender, json={"scopes": []}, headers=bearer(admin_token))
    assert withdrawn.json()["scopes"] == []
    assert (await client.get(patient, headers=bearer(least.token))).status_code == 403


async def test_scopes_at_one_registrant_grant_nothing_at_another(
    client, admin_token, token: TokenFactory, ward, probe
):
    other = await create_registrant(client, admin_token, name="Lone Star Ketamine Clinic")
    both = [ward.id, other["id"]]
    body = {"registrant_id": ward.id, "subject": "ehr-two", "location_id": ward.room.id,
            "scopes": ["read_patients"]}  # fmt: skip
    await create(client, SENDERS, body, admin_token)
    ehr = token(["integration"], both, sub="ehr-two", name="EHR")
    here = await client.get("/v1/patients", params={"registrant_id": ward.id},
                            headers=bearer(ehr))  # fmt: skip
    assert here.status_code == 200, here.text
    for params in (f"?registrant_id={other['id']}", ""):
        await assert_refused(client, probe, "GET", f"/v1/patients{params}", status=403,
                             problem=DENIED, subject="ehr-two", headers=bearer(ehr))  # fmt: skip


async def test_a_sender_of_one_resource_type_does_not_send_the_other(
    client, admin_token, token, ward, probe
):
    only = await enable_sender(client, admin_token, token, ward.id, ward.room.id,
                               role="nurse", subject="ehr-dispenses",
                               scopes=("send_dispenses",))  # fmt: skip
    before = await probe.business_rows()
    refused = await send(client, "POST", infusion(ward, only), only.token)
    assert refused.status_code == 403, refused.text
    assert refused.json()["issue"][0]["code"] == "forbidden"
    assert "send_administrations" in refused.json()["issue"][0]["diagnostics"]
    assert await probe.business_rows() == before


async def test_an_integration_reads_back_only_what_it_sent(
    client, admin_token, token, ward, ehr: Sender
):
    await stocked_room(ward)
    other = await enable_sender(client, admin_token, token, ward.id, ward.room.id,
                                role="nurse", subject="ehr-other")  # fmt: skip
    sent = await send(client, "POST", infusion(ward, ehr), ehr.token)
    assert sent.status_code == 201, sent.text
    path = f"/v1/fhir/MedicationAdministration/{sent.json()['id']}"
    assert (await client.get(path, headers=bearer(ehr.token))).status_code == 200
    assert (await client.get(path, headers=bearer(other.token))).status_code == 404


def test_the_openapi_document_names_every_scope(app):
    schema = app.openapi()["components"]["schemas"]["SenderCreate"]["properties"]["scopes"]
    for scope in IntegrationScope:
        assert f"`{scope.value}`" in schema["description"]
    assert schema["default"] == [scope.value for scope in LEAST_SCOPES]
    assert orjson.dumps(schema["items"])  # the scopes are an enum the client can generate
