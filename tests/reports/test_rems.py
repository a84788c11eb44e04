"""The Spravato REMS monitoring report on both databases: each esketamine session's Patient
Monitoring Form data and whether the form went in within its 7 days."""

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from pypdf import PdfReader

from tests.clinical.ward import Ward, at, open_ward
from tests.conftest import bearer
from tests.factories import assert_problem

STABLE = {"stable": True, "assessed_at": at(125)}
OBSERVED = {"sedation": False, "dissociation": True, "respiratory_depression": False}


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


async def discharged(ward: Ward, scheduled_at: str = at(0)) -> dict[str, Any]:
    """84 mg (devices at 04:10, 04:15 and 04:20 in Chicago), blood pressure before, after and
    before discharge at 06:20."""
    ts = await ward.open_session("esketamine", scheduled_at=scheduled_at)
    await ward.vitals(ts, "pre_dose", 2, systolic=126, diastolic=80)
    await ward.withdraw(ts, "3", lot="device")
    for minutes in (10, 15, 20):
        await ward.step(ts, "administrations", {"lot_id": ward.device_lot.id, "quantity": "1",
                                                "started_at": at(minutes)})  # fmt: skip
    await ward.vitals(ts, "post_dose", 50, systolic=138, diastolic=88)
    await ward.vitals(ts, "pre_discharge", 128)
    await ward.step(ts, "discharge", {"discharged_at": at(130), "clinical_stability": STABLE,
                                      "observations": OBSERVED})  # fmt: skip
    return ts


async def monitoring(ward: Ward) -> list[dict[str, Any]]:
    response = await ward.client.get(
        "/v1/reports/rems-monitoring",
        params={"registrant_id": ward.id, "from": "2026-03-01", "to": "2026-03-31"},
        headers=bearer(ward.officer_token),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


async def test_each_sessions_monitoring_form_and_its_submission(ward: Ward, clock):
    submitted = await discharged(ward)
    await ward.step(submitted, "rems-submission", {"submitted_on": "2026-03-02",
                                                   "reference": "PMF-1"})  # fmt: skip
    pending = await discharged(ward, scheduled_at=at(180))  # after the first ended
    forms = {row["session_id"]: row for row in await monitoring(ward)}
    first, second = forms[submitted["id"]], forms[pending["id"]]
    assert {key: first[key] for key in (
        "status", "patient_id", "rems_enrollment_id", "dose_mg", "dose", "lot_numbers",
        "first_device_at", "monitoring_ended_at", "total_minutes", "bp_pre_dose",
        "bp_post_dose", "bp_pre_discharge", "sedation", "dissociation",
        "respiratory_depression", "missing", "due_on", "submitted_on",
        "submission_reference", "submission",
    )} == {
        "status": "discharged", "patient_id": ward.esketamine_patient.id,
        "rems_enrollment_id": "REMS-P-7731", "dose_mg": "84", "dose": "84",
        "lot_numbers": [ward.device_lot.lot_number],
        "first_device_at": "2026-03-02T04:10:00-06:00",
        "monitoring_ended_at": "2026-03-02T06:10:00-06:00", "total_minutes": 120,
        "bp_pre_dose": "126/80 at 04:02", "bp_post_dose": "138/88 at 04:50",
        "bp_pre_discharge": "128/82 at 06:08", "sedation": False, "dissociation": True,
        "respiratory_depression": False, "missing": [], "due_on": "2026-03-09",
        "submitted_on": "2026-03-02", "submission_reference": "PMF-1",
        "submission": "submitted",
    }  # fmt: skip
    assert second["submission"] == "due"
    clock.set(datetime(2026, 3, 10, 15, tzinfo=UTC))
    later = {row["session_id"]: row["submission"] for row in await monitoring(ward)}
    assert later == {submitted["id"]: "submitted", pending["id"]: "overdue"}


async def test_an_iv_session_is_no_part_of_it(ward: Ward):
    await ward.open_session("iv")
    assert await monitoring(ward) == []


async def test_one_sessions_form_has_every_field_of_the_rems_form_in_json_and_on_paper(
    ward: Ward,
):
    ts = await discharged(ward)
    ask = {"session_id": ts["id"]}
    response = await ward.client.get("/v1/reports/rems-monitoring-form", params=ask,
                                     headers=bearer(ward.nurse_token))  # fmt: skip
    assert response.status_code == 200, response.text
    form = response.json()
    [row] = await monitoring(ward)
    assert {key: form[key] for key in row if key != "patient_id"} == {
        key: value for key, value in row.items() if key != "patient_id"
    }, "the form holds what the period's report holds of its session"
    assert {key: form[key] for key in ("report", "healthcare_setting",
                                       "setting_rems_certification_id",
                                       "patient_date_of_birth")} == {
        "report": "rems_monitoring_form", "healthcare_setting": ward.registrant.name,
        "setting_rems_certification_id": "HCS-TX-0048213", "patient_date_of_birth": "1980-12-10",
    }  # fmt: skip
    assert "items" not in form

    printed = await ward.client.get("/v1/reports/rems-monitoring-form",
                                    params={**ask, "format": "pdf"},
                                    headers=bearer(ward.officer_token))  # fmt: skip
    assert printed.headers["content-type"] == "application/pdf", printed.text
    [page] = PdfReader(io.BytesIO(printed.content)).pages
    text = " ".join(page.extract_text().split())
    for expected in (
        "Spravato REMS Patient Monitoring Form", "Healthcare setting REMS certification ID "
        "HCS-TX-0048213", f"Patient REMS ID {row['rems_enrollment_id']}",
        f"Patient name {row['patient_name']}", "Patient date of birth 1980-12-10",
        "Dose (56 mg, 84 mg or other) 84", f"Lot numbers {ward.device_lot.lot_number}",
        "First device administered 2026-03-02 04:10 CST",
        "Blood pressure about 40 minutes after the first device 138/88 at 04:50",
        "Total monitoring (minutes) 120", "Sedation no", "Dissociation yes",
        "Respiratory depression no", "Healthcare provider who monitored the patient",
    ):  # fmt: skip
        assert expected in text, expected


async def test_only_an_esketamine_session_has_a_monitoring_form(ward: Ward):
    ts = await ward.open_session("iv")
    response = await ward.client.get("/v1/reports/rems-monitoring-form",
                                     params={"session_id": ts["id"]},
                                     headers=bearer(ward.nurse_token))  # fmt: skip
    assert_problem(response, 422, "not-esketamine")
    pharmacist = ward.token(["pharmacist"], [ward.id], sub="pharmacist-1")
    refused = await ward.client.get("/v1/reports/rems-monitoring-form",
                                    params={"session_id": ts["id"]},
                                    headers=bearer(pharmacist))  # fmt: skip
    assert_problem(refused, 403, "permission-denied")
