"""Names beside ids, on both databases: balances, discrepancies and sessions answer the
location's name, the lot's number and expiry, the product's name, code and strength, the
staff member's name and role, and the patient's name for a caller who may read patients."""

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from app.auth.permissions import Role
from app.auth.principal import Principal
from app.catalog.names import Names
from tests.clinical.ward import Ward, at, open_ward
from tests.conftest import START, bearer
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended, stolen
from tests.pharmacy.dispensary import PRESCRIPTIONS, Dispensary, open_dispensary

INJECTION = {"name": "Ketamine HCl injection 50 mg/mL, 10 mL vial", "code": "00409205105",
             "strength": "50 mg/mL", "dosage_form": "injection", "unit": "mL"}  # fmt: skip


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


async def test_a_balance_names_its_location_lot_and_product(clinic: Clinic):
    await appended(clinic, clinic.event("receipt", "10"))
    response = await clinic.client.get("/v1/ledger/balances", params={
        "registrant_id": clinic.registrant.id}, headers=bearer(clinic.officer_token))  # fmt: skip
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert item["location"] == {"id": clinic.vault.id, "name": clinic.vault.name, "kind": "vault"}
    assert item["lot"] == {"id": clinic.lot.id, "lot_number": clinic.lot.lot_number,
                           "expires_on": clinic.lot.json["expires_on"]}  # fmt: skip
    assert item["product"] == {"id": clinic.product.id, **INJECTION}


async def test_a_discrepancy_names_where_what_and_who(clinic: Clinic, app, clock):
    _, found = await stolen(clinic, app, clock)
    assert found["location"]["name"] == clinic.vault.name
    assert found["lot"] == {"id": clinic.lot.id, "lot_number": clinic.lot.lot_number,
                            "expires_on": clinic.lot.json["expires_on"]}  # fmt: skip
    assert found["product"] == {"id": clinic.product.id, **INJECTION}
    assert (found["patient_id"], found["session_id"]) == (None, None)
    lot, vault = clinic.lot.lot_number, clinic.vault.name
    assert found["summary"] == f"Theft of 2 mL of {INJECTION['name']} (lot {lot}) at {vault}"
    assert [person["name"] for person in found["staff"]] == [clinic.nurse.name]
    assert found["staff"][0]["role"] == "nurse"
    one = await clinic.client.get(f"/v1/discrepancies/{found['id']}",
                                  headers=bearer(clinic.officer_token))  # fmt: skip
    assert {key: one.json()[key] for key in ("location", "product", "staff")} == {
        key: found[key] for key in ("location", "product", "staff")
    }


async def test_a_session_names_its_room_patient_staff_lots_and_performers(ward: Ward):
    ts = await ward.open_session("iv")
    assert ts["room"] == {"id": ward.room.id, "name": ward.room.name, "kind": "procedure_room"}
    assert ts["patient"] == {"id": ward.iv_patient.id, "external_id": ward.iv_patient.external_id,
                             "name": f"Ada {ward.iv_patient.family_name}"}  # fmt: skip
    withdrawn = await ward.withdraw(ts, "1")
    assert withdrawn["event"]["lot"]["lot_number"] == ward.vial_lot.lot_number
    assert withdrawn["event"]["performer"]["name"] == ward.nurse.name
    given = await ward.step(ts, "administrations", {
        "lot_id": ward.vial_lot.id, "quantity": "0.7", "started_at": at(10), "ended_at": at(50),
    })  # fmt: skip
    assert {person["name"] for person in given["session"]["staff"]} >= {ward.nurse.name}
    balances = await ward.get("/v1/ledger/balances", ward.officer_token, registrant_id=ward.id)
    [held] = [item for item in balances.json()["items"]
              if item["location_id"] == ts["holding_location_id"]]  # fmt: skip
    scheduled = datetime.fromisoformat(ts["scheduled_at"]).astimezone(ZoneInfo("America/Chicago"))
    assert ward.registrant.json["timezone"] == "America/Chicago"
    assert held["location"]["name"] == (
        f"{ward.room.name}, session {scheduled:%Y-%m-%d %H:%M} {scheduled:%Z} "
        f"{ts['id'].replace('-', '')[:8]}"
    )


async def test_a_patient_is_named_only_to_a_caller_who_may_read_patients(clinic: Clinic, app):
    registrant = uuid.UUID(clinic.registrant.id)
    patient = uuid.UUID(clinic.patient.id)
    nurse = Principal("nurse-1", "Nora", frozenset({Role.clinician}), frozenset({registrant}))
    officer = Principal("officer-1", "Olive", frozenset({Role.compliance_officer}),
                        frozenset({registrant}))  # fmt: skip
    stranger = Principal("other-1", "Otto", frozenset({Role.clinician}),
                         frozenset({uuid.uuid4()}))  # fmt: skip
    async with app.state.database.session(write=False) as db:
        to_nurse = await Names.load(db, nurse, patients=[patient])
        to_officer = await Names.load(db, officer, patients=[patient])
        to_stranger = await Names.load(db, stranger, patients=[patient], staff=[None])
    assert to_nurse.patients[patient].name == f"Ada {clinic.patient.family_name}"
    assert to_officer.patients[patient].name is None
    assert to_officer.patients[patient].external_id == clinic.patient.external_id
    assert to_stranger.patients == {}  # another registrant's rows are not read at all


async def test_a_compliance_officer_reads_sessions_without_patient_names_and_records_no_step(
    ward: Ward,
):
    ts = await ward.open_session("iv")
    officer = bearer(ward.officer_token)
    one = await ward.client.get(f"/v1/sessions/{ts['id']}", headers=officer)
    assert one.status_code == 200, one.text
    patient = ward.iv_patient
    assert one.json()["patient"] == {"id": patient.id, "external_id": patient.external_id,
                                     "name": None}  # fmt: skip
    assert one.json()["room"]["name"] == ward.room.name
    listed = await ward.client.get("/v1/sessions", params={"registrant_id": ward.id},
                                   headers=officer)  # fmt: skip
    [item] = listed.json()["items"]
    assert (item["id"], item["room"], item["patient"]) == (ts["id"], one.json()["room"],
                                                           one.json()["patient"])  # fmt: skip
    history = await ward.client.get(f"/v1/sessions/{ts['id']}/history", headers=officer)
    assert history.status_code == 200, history.text
    step = await ward.post(f"/v1/sessions/{ts['id']}/vitals", {
        "measured_at": at(3), "moment": "pre_dose", "systolic_mmhg": 120, "diastolic_mmhg": 80,
        "heart_rate_bpm": 70, "spo2_percent": 98}, ward.officer_token)  # fmt: skip
    assert step.status_code == 403, step.text


async def test_an_event_names_its_patient_only_to_a_caller_who_may_read_patients(clinic: Clinic):
    await appended(clinic, clinic.event("receipt", "10"))
    given = await appended(clinic, clinic.event("administer", "1", patient_id=clinic.patient.id))
    assert (
        given["snapshot"]["patient"]["name"]
        == clinic.patient.json["given_name"] + " " + (clinic.patient.json["family_name"])
    )
    assert given["withheld"] == []
    url = f"/v1/ledger/events/{given['id']}"
    one = await clinic.client.get(url, headers=bearer(clinic.officer_token))
    listed = await clinic.client.get("/v1/ledger/events", params={
        "registrant_id": clinic.registrant.id, "patient_id": clinic.patient.id,
    }, headers=bearer(clinic.officer_token))  # fmt: skip
    assert (one.status_code, listed.status_code) == (200, 200), (one.text, listed.text)
    for shown in (one.json(), *listed.json()["items"]):
        assert shown["snapshot"]["patient"] is None
        assert shown["withheld"] == ["snapshot.patient"]
        assert shown["patient_id"] == clinic.patient.id
        assert shown["hash"] == given["hash"]
        assert shown["snapshot"] | {"patient": given["snapshot"]["patient"]} == given["snapshot"]
    nurse = await clinic.client.get(url, headers=bearer(clinic.nurse_token))
    assert nurse.json()["snapshot"] == given["snapshot"]


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


async def test_a_prescription_names_its_patient_product_lots_and_pharmacist(
    dispensary: Dispensary,
):
    rx = await dispensary.receive(issuer_registrant_id=dispensary.clinic_id)
    body = dispensary.fill_body(dispensary.on(START.date()))
    assert (await dispensary.fill(rx, body)).status_code == 201
    troche, lot = dispensary.troche, dispensary.troche_lot
    patient = dispensary.patient
    full_name = f"{patient.json['given_name']} {patient.family_name}"
    officer = dispensary.make_token(["compliance_officer"], [dispensary.clinic_id], sub="off-9")
    for reader, named in ((dispensary.token, True), (dispensary.prescriber_token, True),
                          (officer, False)):  # fmt: skip
        one = await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}", reader)
        listed = await dispensary.get(PRESCRIPTIONS, reader)
        assert (one.status_code, listed.status_code) == (200, 200), (one.text, listed.text)
        for shown in (one.json(), *listed.json()["items"]):
            assert shown["product"]["name"] == troche.json["name"]
            assert shown["product"]["code"] == troche.json["compound_code"]
            assert shown["patient"] == {"id": patient.id, "external_id": patient.external_id,
                                        "name": full_name if named else None}  # fmt: skip
        [fill] = one.json()["fills"]
        assert fill["lot"] == {"id": lot.id, "lot_number": "T-2026-001",
                               "expires_on": "2026-09-30"}  # fmt: skip
        assert fill["dispenser"]["id"] == fill["dispensed_by"] == dispensary.pharmacist.id
        assert fill["dispenser"]["role"] == "pharmacist"


async def test_a_compounding_batch_names_its_place_product_lots_and_pharmacists(
    dispensary: Dispensary,
):
    listed = await dispensary.get("/v1/compounding-batches", registrant_id=dispensary.id)
    assert listed.status_code == 200, listed.text
    [batch] = listed.json()["items"]
    one = await dispensary.get(f"/v1/compounding-batches/{batch['id']}")
    assert one.json() == batch
    assert batch["location"]["name"] == dispensary.shelf.name
    assert batch["product"]["code"] == dispensary.troche.json["compound_code"]
    assert batch["finished_lot"] == {"id": dispensary.troche_lot.id, "lot_number": "T-2026-001",
                                     "expires_on": "2026-09-30"}  # fmt: skip
    assert batch["compounder"]["id"] == batch["compounded_by"] == dispensary.pharmacist.id
    assert batch["checker"]["id"] == batch["checked_by"] != batch["compounded_by"]
    [ingredient] = batch["ingredients"]
    assert ingredient["lot"]["lot_number"] == "API-77"


async def test_an_evaluation_and_a_plan_name_their_patient_and_prescriber(ward: Ward):
    plan = await ward.get(f"/v1/treatment-plans/{ward.iv_plan.id}", ward.prescriber_token)
    assert plan.status_code == 200, plan.text
    evaluation = await ward.get(f"/v1/evaluations/{plan.json()['evaluation_id']}",
                                ward.prescriber_token)  # fmt: skip
    plans = await ward.get("/v1/treatment-plans", ward.prescriber_token, registrant_id=ward.id,
                           patient_id=ward.iv_patient.id)  # fmt: skip
    evaluations = await ward.get("/v1/evaluations", ward.prescriber_token, registrant_id=ward.id,
                                 patient_id=ward.iv_patient.id)  # fmt: skip
    patient = {"id": ward.iv_patient.id, "external_id": ward.iv_patient.external_id,
               "name": f"Ada {ward.iv_patient.family_name}"}  # fmt: skip
    for shown in (plan.json(), evaluation.json(), *plans.json()["items"],
                  *evaluations.json()["items"]):  # fmt: skip
        assert shown["patient"] == patient
        assert shown["prescriber"]["id"] == shown["prescriber_id"] == ward.prescriber.id
        assert shown["prescriber"]["name"] == ward.prescriber.name
    history = await ward.get(f"/v1/treatment-plans/{ward.iv_plan.id}/history",
                             ward.prescriber_token)  # fmt: skip
    assert "patient" not in history.json()[0]["data"]
