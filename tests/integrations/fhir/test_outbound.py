"""A ledger event as R4 for webhook payloads: administrations and dispenses, the patient
only by reference unless patient data is asked for; other events have none."""

import uuid
from typing import Any

from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationdispense import MedicationDispense

from app.integrations.fhir.outbound import resource_of_event
from tests.clinical.ward import Ward, at
from tests.conftest import START
from tests.pharmacy.dispensary import Dispensary


async def of_event(app, event_id: str, *, include_patient_data: bool) -> dict[str, Any] | None:
    async with app.state.database.session(write=False) as session:
        return await resource_of_event(session, uuid.UUID(event_id),
                                       include_patient_data=include_patient_data)  # fmt: skip


async def test_an_infusion_is_a_medication_administration(app, ward: Ward):
    ts = await ward.open_session("iv")
    withdrawal = await ward.withdraw(ts, "1")
    body = {"lot_id": ward.vial_lot.id, "quantity": "0.7", "started_at": at(10),
            "ended_at": at(50)}  # fmt: skip
    given = await ward.step(ts, "administrations", body)
    event_id = given["event"]["id"]

    resource = await of_event(app, event_id, include_patient_data=False)

    assert resource is not None
    MedicationAdministration.model_validate(resource)
    assert resource["identifier"] == [{"system": "urn:csledger:ledger-event", "value": event_id}]
    assert resource["status"] == "completed"
    assert resource["subject"] == {
        "reference": f"Patient/{ward.iv_patient.id}",
        "identifier": {"system": "urn:csledger:patient",
                       "value": ward.iv_patient.external_id},
    }  # fmt: skip
    assert "contained" in resource
    assert [c["resourceType"] for c in resource["contained"]] == ["Medication"]
    assert resource["contained"][0]["batch"]["lotNumber"] == ward.vial_lot.lot_number
    assert resource["contained"][0]["code"]["coding"][0]["code"] == "00409-2051-05"
    ucum = "http://unitsofmeasure.org"
    assert resource["dosage"]["dose"] == {"value": 35, "unit": "mg", "system": ucum, "code": "mg"}
    assert set(resource["effectivePeriod"]) == {"start", "end"}
    assert resource["context"]["identifier"]["value"] == ts["id"]
    text = str(resource)
    for private in ("Lovelace", "Ada", "1980-12-10", "Main St"):
        assert private not in text
    assert await of_event(app, withdrawal["event"]["id"], include_patient_data=False) is None


async def test_with_patient_data_the_patient_is_contained(app, ward: Ward):
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    body = {"lot_id": ward.vial_lot.id, "quantity": "0.7", "started_at": at(10),
            "ended_at": at(50)}  # fmt: skip
    given = await ward.step(ts, "administrations", body)

    resource = await of_event(app, given["event"]["id"], include_patient_data=True)

    assert resource is not None
    MedicationAdministration.model_validate(resource)
    patient = next(c for c in resource["contained"] if c["resourceType"] == "Patient")
    assert resource["subject"]["reference"] == f"#{patient['id']}"
    assert patient["name"][0]["text"] == "Ada Lovelace"
    assert patient["birthDate"] == "1980-12-10"


async def test_a_fill_is_a_medication_dispense(app, dispensary: Dispensary):
    rx = await dispensary.receive()
    filled = await dispensary.fill(rx, dispensary.fill_body(START.isoformat()))
    assert filled.status_code == 201, filled.text
    event_id = filled.json()["fills"][-1]["event_id"]

    resource = await of_event(app, event_id, include_patient_data=False)

    assert resource is not None
    MedicationDispense.model_validate(resource)
    assert resource["quantity"] == {"value": 30, "unit": "each"}
    assert resource["authorizingPrescription"][0]["identifier"]["value"] == rx["rx_number"]
    assert resource["daysSupply"]["value"] == 30
    assert resource["contained"][0]["code"]["coding"][0]["system"] == "urn:csledger:compound-code"
    assert "Lovelace" not in str(resource)


async def test_an_event_that_does_not_exist_has_no_resource(app):
    assert await of_event(app, str(uuid.uuid4()), include_patient_data=True) is None
