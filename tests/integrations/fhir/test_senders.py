"""An admin enables an integration as a FHIR sender at a registrant, with its location;
disabled, its resources are refused."""

import orjson

from tests.clinical.ward import Ward, at
from tests.conftest import bearer
from tests.factories import assert_problem
from tests.integrations.fhir.support import FHIR_JSON, Sender, ketamine_infusion

SENDERS = "/v1/integrations/fhir-senders"


async def test_an_admin_configures_a_sender_and_its_history_is_kept(
    client, admin_token, ward: Ward, ehr: Sender
):
    listed = await client.get(SENDERS, params={"registrant_id": ward.id},
                              headers=bearer(admin_token))  # fmt: skip
    assert listed.status_code == 200, listed.text
    assert [s["subject"] for s in listed.json()["items"]] == ["ehr-1"]
    path = f"{SENDERS}/{ehr.sender['id']}"
    moved = await client.patch(path, json={"location_id": ward.vault.id},
                               headers=bearer(admin_token))  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert (moved.json()["location_id"], moved.json()["version"]) == (ward.vault.id, 2)
    history = await client.get(f"{path}/history", headers=bearer(admin_token))
    assert [v["data"]["location_id"] for v in history.json()] == [
        ward.room.id, ward.vault.id,
    ]  # fmt: skip


async def test_a_subject_is_a_sender_once_per_registrant(client, admin_token, ward, ehr):
    body = {"registrant_id": ward.id, "subject": "ehr-1", "location_id": ward.vault.id}
    response = await client.post(SENDERS, json=body, headers=bearer(admin_token))
    assert_problem(response, 409, "already-exists", pointer="#/subject")


async def test_a_sessions_holding_is_not_a_senders_location(client, admin_token, ward):
    ts = await ward.open_session("iv")
    body = {"registrant_id": ward.id, "subject": "ehr-9",
            "location_id": ts["holding_location_id"]}  # fmt: skip
    response = await client.post(SENDERS, json=body, headers=bearer(admin_token))
    assert_problem(response, 422, "invalid-reference", pointer="#/location_id")


async def test_only_an_admin_configures_senders(client, ward):
    body = {"registrant_id": ward.id, "subject": "ehr-9", "location_id": ward.vault.id}
    response = await client.post(SENDERS, json=body, headers=bearer(ward.officer_token))
    assert_problem(response, 403, "permission-denied")


async def test_a_disabled_sender_is_refused(client, admin_token, ward, ehr, probe):
    disabled = await client.patch(f"{SENDERS}/{ehr.sender['id']}", json={"active": False},
                                  headers=bearer(admin_token))  # fmt: skip
    assert disabled.status_code == 200, disabled.text
    resource = ketamine_infusion(mrn=ward.iv_patient.external_id, npi_value=ehr.npi,
                                 lot_number=ward.vial_lot.lot_number, start=at(10),
                                 end=at(50))  # fmt: skip
    before = await probe.business_rows()
    headers = bearer(ehr.token) | {"Content-Type": FHIR_JSON}
    response = await client.post("/v1/fhir/MedicationAdministration",
                                 content=orjson.dumps(resource), headers=headers)  # fmt: skip
    assert response.status_code == 403, response.text
    assert response.json()["issue"][0]["code"] == "forbidden"
    assert await probe.business_rows() == before
