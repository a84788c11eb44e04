"""A day's PDMP file previewed (nothing kept) or submitted (kept under a control number, byte
for byte), what the state answered about each submission, and the corrections of rejected
files, on both databases."""

import base64
import hashlib
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.reports.pdmp.models import PdmpSubmission
from tests.conftest import bearer
from tests.factories import assert_problem, create_registrant
from tests.ledger.support import reversal_body
from tests.pharmacy.dispensary import Dispensary, open_dispensary
from tests.reports.pdmp.asap_validator import parse, validate
from tests.reports.pdmp.support import (
    REJECTED,
    SUBMISSIONS,
    file_of,
    filled,
    officer,
    preview,
    respond,
    submit,
    submitted,
)


async def kept(probe) -> list[Any]:
    async with probe.engine.connect() as connection:
        return list(await connection.execute(
            select(PdmpSubmission.__table__).order_by(PdmpSubmission.control_number)))  # fmt: skip


# Preview and submission


async def test_a_preview_keeps_nothing_and_uses_no_control_number(dispensary: Dispensary, probe):
    await filled(dispensary, date(2026, 3, 2))
    before = await probe.business_rows()
    shown = await preview(dispensary, "2026-03-02")
    assert shown.status_code == 200, shown.text
    assert await probe.business_rows() == before
    assert "x-control-number" not in shown.headers
    assert shown.headers["content-disposition"].endswith('-20260302-preview.txt"')
    th = validate(shown.text).segments[0]
    assert (th[2], th[7]) == ("000000000", "T")  # never issued; a test file

    again = await preview(dispensary, "2026-03-02")
    assert again.text == shown.text
    made = await submitted(dispensary, "2026-03-02")
    assert made["control_number"] == "000000001"  # the previews used none
    sent = parse((await file_of(dispensary, made)).text).segments
    # The preview is the file submitted, but for its control number (TH02, TT01) and type.
    sent[0][2], sent[0][7], sent[-1][1] = "000000000", "T", "000000000"
    assert parse(shown.text).segments == sent


async def test_a_submission_keeps_its_file_byte_for_byte(dispensary: Dispensary, probe, app):
    await filled(dispensary, date(2026, 3, 2))
    response = await submit(dispensary, "2026-03-02")
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["location"] == f"{SUBMISSIONS}/{made['id']}"
    assert {k: made[k] for k in ("registrant_id", "report_date", "control_number", "status",
                                 "dispenses", "voids", "corrects_submission_id",
                                 "corrected_by_submission_id", "responses", "created_by",
                                 "created_by_name")} == {
        "registrant_id": dispensary.id, "report_date": "2026-03-02",
        "control_number": "000000001", "status": "awaiting_response", "dispenses": 1,
        "voids": 0, "corrects_submission_id": None, "corrected_by_submission_id": None,
        "responses": [], "created_by": "officer-rx", "created_by_name": "Olive Officer",
    }  # fmt: skip

    file = await file_of(dispensary, made)
    assert file.status_code == 200, file.text
    assert file.headers["content-type"] == "text/plain; charset=utf-8"
    assert file.headers["x-control-number"] == "000000001"
    digest = hashlib.sha256(file.content).digest()
    assert file.headers["repr-digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    assert made["content_sha256"] == digest.hex()
    assert file.headers["content-disposition"].endswith('-20260302-000000001.txt"')
    parsed = validate(file.text)
    assert (parsed.segments[0][2], parsed.segments[0][7]) == ("000000001", "P")
    [row] = await kept(probe)
    assert (row.content.encode(), row.content_sha256) == (file.content, digest.hex())

    # The next day, under the next number, in the file type of the settings.
    app.state.settings = app.state.settings.model_copy(update={"pdmp_file_type": "T"})
    dispensary.on(date(2026, 3, 4))
    second = await submitted(dispensary, "2026-03-03")
    assert second["control_number"] == "000000002"
    assert validate((await file_of(dispensary, second)).text).segments[0][7] == "T"


async def test_a_day_is_submitted_once(dispensary: Dispensary, probe):
    first = await submitted(dispensary, "2026-03-01")
    before = await probe.business_rows()
    problem = assert_problem(await submit(dispensary, "2026-03-01"), 409,
                             "pdmp-day-already-submitted")  # fmt: skip
    assert (problem["submission_id"], problem["submission_status"]) == (
        first["id"], "awaiting_response")  # fmt: skip
    assert "000000001" in problem["detail"]
    assert await probe.business_rows() == before
    await respond(dispensary, first["id"], outcome="accepted")
    problem = assert_problem(await submit(dispensary, "2026-03-01"), 409,
                             "pdmp-day-already-submitted")  # fmt: skip
    assert problem["submission_status"] == "accepted"


async def test_a_day_not_over_is_neither_previewed_nor_submitted(dispensary: Dispensary):
    problem = assert_problem(await preview(dispensary, "2026-03-02"), 422, "invalid-input")
    assert problem["errors"][0]["parameter"] == "date"
    problem = assert_problem(await submit(dispensary, "2026-03-02"), 422, "invalid-input")
    assert problem["errors"][0]["pointer"] == "#/report_date"


async def test_a_retried_submission_is_answered_as_the_first(dispensary: Dispensary, probe):
    headers = bearer(officer(dispensary)) | {"Idempotency-Key": "submit-march-first"}
    body = {"registrant_id": dispensary.id, "report_date": "2026-03-01"}
    first = await dispensary.client.post(SUBMISSIONS, json=body, headers=headers)
    again = await dispensary.client.post(SUBMISSIONS, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(await kept(probe)) == 1


# The state's responses


async def test_the_states_responses_are_the_submissions_history(dispensary: Dispensary):
    made = await submitted(dispensary, "2026-03-01")
    dispensary.on(date(2026, 3, 3))
    rejected = await respond(dispensary, made["id"], **REJECTED, state_reference="PMP-7781",
                             received_at="2026-03-03T09:15:00-06:00")  # fmt: skip
    assert rejected.status_code == 200, rejected.text
    shown = rejected.json()
    assert shown["status"] == "rejected"
    [response] = shown["responses"]
    assert {k: response[k] for k in ("outcome", "errors", "state_reference", "received_at",
                                     "recorded_by", "recorded_by_name")} == {
        "outcome": "rejected", "errors": REJECTED["errors"], "state_reference": "PMP-7781",
        "received_at": "2026-03-03T15:15:00Z", "recorded_by": "officer-rx",
        "recorded_by_name": "Olive Officer",
    }  # fmt: skip
    # The state took the file after all (a phone call): both kept, in order.
    accepted = await respond(dispensary, made["id"], outcome="accepted", note="Accepted on review")
    assert accepted.status_code == 200, accepted.text
    assert [r["outcome"] for r in accepted.json()["responses"]] == ["rejected", "accepted"]
    assert accepted.json()["status"] == "accepted"
    read = await dispensary.get(f"{SUBMISSIONS}/{made['id']}", officer(dispensary))
    assert read.json() == accepted.json()
    for closed in ({"outcome": "accepted"}, REJECTED):
        assert_problem(await respond(dispensary, made["id"], **closed), 409,
                       "pdmp-submission-closed")  # fmt: skip


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"outcome": "rejected"}, "#/errors"),
        ({"outcome": "accepted", "errors": REJECTED["errors"]}, "#/errors"),
        ({"outcome": "accepted", "received_at": "2026-03-02T14:59:59Z"}, "#/received_at"),
        ({"outcome": "accepted", "received_at": "2026-03-02T16:00:00Z"}, "#/received_at"),
        (
            {"outcome": "rejected", "errors": [{"message": "x", "element": "dsp5"}]},
            "#/errors/0/element",
        ),
        ({"outcome": "maybe"}, "#/outcome"),
    ],
)
async def test_a_response_says_what_the_state_said(dispensary: Dispensary, probe, body, pointer):
    """Submitted at 15:00 UTC (the clock of the tests): a response is received after that, and
    not in the future."""
    made = await submitted(dispensary, "2026-03-01")
    before = await probe.business_rows()
    problem = assert_problem(await respond(dispensary, made["id"], **body), 422, "invalid-input")
    assert problem["errors"][0]["pointer"] == pointer
    assert await probe.business_rows() == before


async def test_a_correction_names_the_rejected_submission_both_ways(dispensary: Dispensary):
    first = await submitted(dispensary, "2026-03-01")
    correcting = {"corrects_submission_id": first["id"]}
    problem = assert_problem(await submit(dispensary, "2026-03-01", **correcting), 409,
                             "pdmp-not-correctable")  # fmt: skip
    assert problem["detail"].endswith("is awaiting response, not rejected")
    await respond(dispensary, first["id"], **REJECTED)
    problem = assert_problem(await submit(dispensary, "2026-03-01"), 409,
                             "pdmp-day-already-submitted")  # fmt: skip
    assert problem["submission_status"] == "rejected"
    assert "corrects_submission_id" in problem["detail"]

    correction = await submitted(dispensary, "2026-03-01", **correcting)
    assert (correction["control_number"], correction["corrects_submission_id"]) == (
        "000000002", first["id"])  # fmt: skip
    assert correction["status"] == "awaiting_response"
    original = (await dispensary.get(f"{SUBMISSIONS}/{first['id']}", officer(dispensary))).json()
    assert (original["status"], original["corrected_by_submission_id"]) == (
        "rejected", correction["id"])  # fmt: skip
    problem = assert_problem(await respond(dispensary, first["id"], outcome="accepted"), 409,
                             "pdmp-submission-closed")  # fmt: skip
    assert problem["corrected_by_submission_id"] == correction["id"]
    assert_problem(await submit(dispensary, "2026-03-01", **correcting), 409,
                   "pdmp-not-correctable")  # fmt: skip

    # The correction rejected in turn is corrected by the next: one chain per day.
    await respond(dispensary, correction["id"], **REJECTED)
    third = await submitted(dispensary, "2026-03-01", corrects_submission_id=correction["id"])
    assert third["control_number"] == "000000003"


async def test_a_correction_is_of_the_same_day_and_pharmacy(dispensary: Dispensary):
    dispensary.on(date(2026, 3, 3))
    first = await submitted(dispensary, "2026-03-01")
    await respond(dispensary, first["id"], **REJECTED)
    other_day = await submit(dispensary, "2026-03-02", corrects_submission_id=first["id"])
    problem = assert_problem(other_day, 409, "pdmp-not-correctable")
    assert problem["errors"][0]["pointer"] == "#/corrects_submission_id"
    assert "is of 2026-03-01, not 2026-03-02" in problem["detail"]
    nowhere = "00000000-0000-4000-8000-000000000000"
    unknown = await submit(dispensary, "2026-03-01", corrects_submission_id=nowhere)
    assert_problem(unknown, 404, "not-found")


# Who


async def test_another_registrants_submission_is_not_found(
    dispensary: Dispensary, client, admin_token, token, clock
):
    made = await submitted(dispensary, "2026-03-01")
    other = await create_registrant(client, admin_token, kind="pharmacy", name="Other Pharmacy")
    elsewhere = token(["compliance_officer", "pharmacist"], [other["id"]], sub="other-officer")
    for response in (
        await respond(dispensary, made["id"], elsewhere, outcome="accepted"),
        await dispensary.get(f"{SUBMISSIONS}/{made['id']}", elsewhere),
        await dispensary.get(made["file_url"], elsewhere),
        await dispensary.get(SUBMISSIONS, elsewhere, registrant_id=dispensary.id),
        await preview(dispensary, "2026-03-01", elsewhere),
        await submit(dispensary, "2026-03-02", elsewhere),
    ):
        assert_problem(response, 404, "not-found")
    listed = await dispensary.get(SUBMISSIONS, elsewhere)
    assert listed.json()["items"] == []


async def test_pharmacists_and_officers_submit_admins_read(dispensary: Dispensary, admin_token):
    pharmacist = dispensary.token
    made = await submit(dispensary, "2026-03-01", pharmacist)
    assert made.status_code == 201, made.text
    answered = await respond(dispensary, made.json()["id"], pharmacist, outcome="accepted")
    assert answered.status_code == 200, answered.text
    assert (await preview(dispensary, "2026-03-01", pharmacist)).status_code == 200
    assert (await dispensary.get(SUBMISSIONS, admin_token)).json()["items"][0]["id"] == (
        made.json()["id"])  # fmt: skip
    assert (await preview(dispensary, "2026-02-28", admin_token)).status_code == 200
    # A platform admin is not the pharmacy's staff: it reads, it does not report for it.
    assert_problem(await submit(dispensary, "2026-02-28", admin_token), 403, "permission-denied")
    clinician = dispensary.make_token(["clinician", "prescriber"], [dispensary.id])
    assert_problem(await preview(dispensary, "2026-02-28", clinician), 403, "permission-denied")
    assert_problem(await submit(dispensary, "2026-02-28", clinician), 403, "permission-denied")


async def test_only_a_pharmacy_submits(dispensary: Dispensary):
    clinic = dispensary.make_token(["compliance_officer"], [dispensary.clinic_id])
    refused = await dispensary.client.post(
        SUBMISSIONS, json={"registrant_id": dispensary.clinic_id, "report_date": "2026-03-01"},
        headers=bearer(clinic),
    )  # fmt: skip
    assert_problem(refused, 422, "not-a-pharmacy")


# Reading and the audit log


async def test_submissions_are_listed_by_pharmacy_and_day(dispensary: Dispensary):
    made = []
    for day in (1, 2, 3):
        dispensary.on(date(2026, 3, day + 1))
        made.append(await submitted(dispensary, f"2026-03-0{day}"))
    reader = officer(dispensary)
    page = (await dispensary.get(SUBMISSIONS, reader, registrant_id=dispensary.id,
                                 limit="2")).json()  # fmt: skip
    rest = (await dispensary.get(SUBMISSIONS, reader, cursor=page["next_cursor"])).json()
    assert [s["id"] for s in page["items"] + rest["items"]] == [s["id"] for s in made]
    one_day = (await dispensary.get(SUBMISSIONS, reader, date="2026-03-02")).json()["items"]
    assert [s["id"] for s in one_day] == [made[1]["id"]]


async def test_every_pdmp_file_read_or_submitted_is_audited(dispensary: Dispensary, probe):
    await filled(dispensary, date(2026, 3, 2))
    made = await submit(dispensary, "2026-03-02")
    steps = {
        "preview": await preview(dispensary, "2026-03-02"),
        "submission": made,
        "file": await file_of(dispensary, made.json()),
        "response": await respond(dispensary, made.json()["id"], outcome="accepted"),
    }
    kinds = {}
    for step, response in steps.items():
        [row] = await probe.audit_rows(response.headers["x-request-id"])
        assert (str(row.registrant_id), row.subject) == (dispensary.id, "officer-rx")
        kinds[step] = (row.kind, row.resource_type)
    assert kinds == {
        "preview": ("report", "report"), "submission": ("write", "pdmp_submission"),
        "file": ("report", "pdmp_submission"), "response": ("write", "pdmp_submission"),
    }  # fmt: skip


async def test_a_reversal_after_submission_goes_in_the_next_days_file(
    dispensary: Dispensary, client, clock
):
    """What a submitted day reported is not sent again: a fill reversed later is a void in
    the file of the day of its reversal."""
    rx = await filled(dispensary, date(2026, 3, 2))
    first = await submitted(dispensary, "2026-03-02")
    assert (first["dispenses"], first["voids"]) == (1, 0)
    undone = await client.post(
        "/v1/ledger/events",
        json=reversal_body(dispensary.id, rx["fill"]["event_id"], clock.now().isoformat()),
        headers=bearer(officer(dispensary)) | {"Idempotency-Key": "void-after-submission"},
    )  # fmt: skip
    assert undone.status_code == 201, undone.text
    dispensary.on(date(2026, 3, 4))
    second = await submitted(dispensary, "2026-03-03")
    assert (second["dispenses"], second["voids"]) == (0, 1)
    [dsp] = validate((await file_of(dispensary, second)).text).named("DSP")
    assert (dsp[1], dsp[2]) == ("02", rx["rx_number"])


async def test_two_pharmacies_number_their_files_apart(
    dispensary: Dispensary, client, admin_token, token, clock
):
    other = await open_dispensary(client, admin_token, token, clock)
    other.on(date(2026, 3, 2) + timedelta(days=1))
    mine = await submitted(dispensary, "2026-03-01")
    theirs = await submitted(other, "2026-03-01")
    assert (mine["control_number"], theirs["control_number"]) == ("000000001", "000000001")
