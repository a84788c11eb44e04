"""A patient's administration record on both databases: each session with its plan, dose per
kg, route, what was given and by whom, vitals, waste and witness, discharge and the
monitoring form's status; who may read it, and its audit as a read of the patient."""

import csv
import io
from typing import Any

import pytest

from tests.clinical.ward import Ward, at, open_ward
from tests.conftest import bearer
from tests.factories import assert_problem
from tests.reports.test_pdf import pages
from tests.reports.test_rems import discharged

STABLE = {"stable": True, "assessed_at": at(58), "note": "alert and oriented"}


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


async def pulled(ward: Ward, patient_id: str, token: str | None = None, **params: str) -> Any:
    return await ward.client.get(
        "/v1/reports/administration-record", params={"patient_id": patient_id, **params},
        headers=bearer(token or ward.nurse_token),
    )  # fmt: skip


async def record(ward: Ward, patient_id: str, token: str | None = None, **params: str) -> Any:
    response = await pulled(ward, patient_id, token, **params)
    assert response.status_code == 200, response.text
    return response


async def infused(ward: Ward) -> dict[str, Any]:
    """At 04:00 in Chicago: 1 mL drawn, vitals before the dose, 0.7 mL (35 mg: 0.5 mg/kg of
    70 kg) infused from 04:10 to 04:50, 0.3 wasted at 04:52 before the witness, who confirms
    it, and a discharge at 05:00 assessed stable."""
    ts = await ward.open_session("iv", scheduled_at=at(0))
    await ward.withdraw(ts, "1", minutes=5)
    await ward.vitals(ts, "pre_dose", 8, systolic=124, diastolic=80)
    await ward.step(ts, "administrations", {"lot_id": ward.vial_lot.id, "quantity": "0.7",
                                            "started_at": at(10), "ended_at": at(50)})  # fmt: skip
    waste = {"lot_id": ward.vial_lot.id, "quantity": "0.3", "occurred_at": at(52),
             "witness_id": ward.witness.id}  # fmt: skip
    wasted = await ward.step(ts, "waste", waste)
    await ward.step(ts, "witness-confirmations", {"event_id": wasted["event"]["id"]},
                    ward.witness_token)  # fmt: skip
    await ward.step(ts, "discharge", {"discharged_at": at(60), "clinical_stability": STABLE})
    return ts


async def test_a_session_as_an_inspector_reads_it(ward: Ward):
    ts = await infused(ward)
    body = (await record(ward, ward.iv_patient.id)).json()
    patient = ward.iv_patient.json
    assert body["report"] == "administration_record"
    assert body["patient_id"] == ward.iv_patient.id
    assert body["patient_name"] == f"{patient['given_name']} {patient['family_name']}"
    assert body["patient_record_number"] == patient["external_id"]
    [item] = body["items"]
    nurse = f"{ward.nurse.name} (nurse)"
    assert {key: item[key] for key in (
        "session_id", "status", "scheduled_at", "room", "route", "plan_id", "prescriber",
        "weight_kg", "planned_dose", "expected_dose_mg", "dose_mg", "dose_mg_per_kg",
        "withdrawn_mg", "administered_mg", "wasted_mg", "returned_mg", "unresolved",
        "ended_at", "clinical_stability", "monitoring_form", "monitoring_form_reference",
    )} == {
        "session_id": ts["id"], "status": "discharged", "scheduled_at": "2026-03-02T04:00:00-06:00",
        "room": ward.room.name, "route": "intravenous infusion", "plan_id": ward.iv_plan.id,
        "prescriber": item["prescriber"], "weight_kg": "70", "planned_dose": "0.5 mg/kg",
        "expected_dose_mg": "35", "dose_mg": "35", "dose_mg_per_kg": "0.5",
        "withdrawn_mg": "50", "administered_mg": "35", "wasted_mg": "15", "returned_mg": "0",
        "unresolved": None, "ended_at": "2026-03-02T05:00:00-06:00",
        "clinical_stability": "stable, assessed at 04:58: alert and oriented",
        "monitoring_form": None, "monitoring_form_reference": None,
    }  # fmt: skip
    assert item["prescriber"].startswith(f"{ward.prescriber.name} (prescriber")
    [given] = item["administrations"]
    assert given.startswith("0.7 mL (35 mg) of Ketamine HCl injection 50 mg/mL, 10 mL vial "
                            f"(00409205105, 50 mg/mL), lot {ward.vial_lot.lot_number} "
                            "(expires 2027-01-31), 04:10 to 04:50, by " + nurse)  # fmt: skip
    [vitals] = item["vitals"]
    assert vitals.startswith("04:08 pre_dose: BP 124/80, HR 76, SpO2 98 %, by " + ward.nurse.name)
    assert item["waste"] == [f"0.3 mL (15 mg) at 04:52 by {nurse}, witnessed by "
                             f"{ward.witness.name} (confirmed)"]  # fmt: skip


async def test_an_esketamine_session_names_its_monitoring_form(ward: Ward):
    ts = await discharged(ward)
    [item] = (await record(ward, ward.esketamine_patient.id)).json()["items"]
    assert item["route"] == "intranasal (nasal spray device)"
    assert item["dose_mg"] == "84"
    assert item["planned_dose"] == "84 mg"
    assert item["dose_mg_per_kg"] is None
    assert len(item["administrations"]) == 3
    assert item["observations"] == ("sedation: no; dissociation: yes; respiratory depression: "
                                    "no; serious adverse events: none")  # fmt: skip
    assert item["monitoring_form"] == "due"
    assert item["monitoring_form_missing"] == []
    reference = item["monitoring_form_reference"]
    assert reference == f"/v1/reports/rems-monitoring-form?session_id={ts['id']}"
    form = await ward.client.get(reference, headers=bearer(ward.nurse_token))
    assert form.status_code == 200, form.text


async def test_a_period_narrows_the_sessions(ward: Ward):
    await infused(ward)
    day = await record(ward, ward.iv_patient.id, **{"from": "2026-03-02", "to": "2026-03-02"})
    assert len(day.json()["items"]) == 1
    later = await record(ward, ward.iv_patient.id, **{"from": "2026-03-03", "to": "2026-03-31"})
    assert later.json()["period"] == {"from": "2026-03-03", "to": "2026-03-31"}
    assert later.json()["items"] == []
    half = await pulled(ward, ward.iv_patient.id, **{"from": "2026-03-03"})
    assert_problem(half, 422, "invalid-input", parameter="to")
    assert (await record(ward, ward.esketamine_patient.id)).json()["items"] == []


async def test_every_format(ward: Ward):
    await infused(ward)
    item = (await record(ward, ward.iv_patient.id)).json()["items"][0]
    [line] = (await record(ward, ward.iv_patient.id, format="jsonl")).text.splitlines()
    assert '"dose_mg_per_kg":"0.5"' in line
    [row] = list(csv.DictReader(io.StringIO(
        (await record(ward, ward.iv_patient.id, format="csv")).text)))  # fmt: skip
    assert row["Dose given (mg/kg)"] == "0.5"
    assert row["Waste"] == item["waste"][0]
    printed = " ".join(pages(await record(ward, ward.iv_patient.id, format="pdf")))
    for expected in ("Administration record", "Session 1 of 1", ward.room.name,
                     "intravenous infusion", "0.5 mg/kg", ward.vial_lot.lot_number,
                     ward.witness.name, "alert and oriented", "Reviewed by",
                     item["prescriber"].split(" (")[0]):  # fmt: skip
        assert expected in printed, expected


async def test_who_may_read_it_and_its_audit(ward: Ward, token, probe):
    await infused(ward)
    for refused in (ward.officer_token, ward.builder.token("pharmacist", "pharmacist-1")):
        assert_problem(await pulled(ward, ward.iv_patient.id, refused), 403, "permission-denied")
    elsewhere = token(["clinician"], ["00000000-0000-4000-8000-000000000000"])
    assert_problem(await pulled(ward, ward.iv_patient.id, elsewhere), 404, "not-found")
    read = await record(ward, ward.iv_patient.id, ward.prescriber_token)
    [row] = await probe.audit_rows(read.headers["x-request-id"])
    assert (
        row.kind,
        row.resource_type,
        row.resource_id,
        str(row.registrant_id),
        row.status_code,
    ) == ("patient_read", "patient", ward.iv_patient.id, ward.id, 200)
