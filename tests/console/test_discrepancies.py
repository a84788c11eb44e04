"""The discrepancy queue and a case page: what they show, their filters, and the forms that
work a case (assign it, write on it, move it), refused as the API refuses."""

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.auth.permissions import Role
from app.console import cases
from app.reconciliation import service
from app.reconciliation.findings import Finding, Subject
from app.reconciliation.workflow import Severity
from tests.conftest import START, bearer
from tests.console.conftest import csrf_of
from tests.factories import create_registrant
from tests.ledger.conftest import Clinic, open_clinic
from tests.reconciliation.test_discrepancies import stolen

pytestmark = pytest.mark.usefixtures("dialect")

OFFICER = [Role.compliance_officer]
THEFT = "Theft of 2 mL"


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def variance(app, clinic: Clinic, **about: Any) -> uuid.UUID:
    """A minor count variance in Room 1 (lot L-100), about the witness's work."""
    subject = Subject(location_id=uuid.UUID(clinic.room.id), lot_id=uuid.UUID(clinic.lot.id),
                      product_id=uuid.UUID(clinic.product.id), **about)  # fmt: skip
    finding = Finding(rule="count_variance", severity=Severity.minor,
                      fingerprint=f"count_variance:{uuid.uuid4()}",
                      summary="Count of lot L-100 at Room 1 short by 1 mL")  # fmt: skip
    async with app.state.database.transaction() as session:
        recorded = await service.record_finding(
            session, registrant_id=uuid.UUID(clinic.registrant.id), finding=finding,
            now=START, event_ids=[], staff_ids=[uuid.UUID(clinic.witness.id)], about=subject,
        )  # fmt: skip
        return recorded.discrepancy.id


async def officer(signed_in, clinic: Clinic, sub: str = "officer-1", **more: Any):
    return await signed_in(OFFICER, [clinic.registrant.id], sub=sub, name="Olive Officer", **more)


async def queue(browser: httpx.AsyncClient, clinic: Clinic, **params: str) -> httpx.Response:
    params = {"registrant_id": clinic.registrant.id, **params}
    answer = await browser.get("/console/discrepancies", params=params)
    assert answer.status_code == 200, answer.text
    return answer


async def post(browser: httpx.AsyncClient, path: str, data: dict[str, str], *, token: bool = True):
    case = path.rsplit("/", 1)[0]
    fields = {"csrf_token": csrf_of(await browser.get(case))} if token else {}
    return await browser.post(path, data=fields | data)


async def shown(clinic: Clinic, found_id: object) -> dict[str, Any]:
    answer = await clinic.client.get(f"/v1/discrepancies/{found_id}",
                                     headers=bearer(clinic.officer_token))  # fmt: skip
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


# The queue


async def test_the_queue_lists_what_is_still_worked_the_most_pressing_first(
    clinic, app, clock, signed_in
):
    _event, theft = await stolen(clinic, app, clock)
    await variance(app, clinic)
    browser = await officer(signed_in, clinic)
    text = (await queue(browser, clinic)).text
    assert text.index(THEFT) < text.index("short by 1 mL")  # a DEA clock runs on the theft
    assert f'href="/console/discrepancies/{theft["id"]}"' in text
    for name in ("Vault", "Room 1", "Nora Nurse", "Wes Witness", "L-100", "written notice"):
        assert name in text
    assert "Discrepancies still worked" in text
    dashboard = await browser.get("/console/", params={"registrant_id": clinic.registrant.id})
    assert 'href="/console/discrepancies?registrant_id=' in dashboard.text


@pytest.mark.parametrize(
    ("filters", "listed"),
    [
        ({"severity": "minor"}, {"variance"}),
        ({"rule": "theft"}, {"theft"}),
        ({"location_id": "room"}, {"variance"}),
        ({"lot_id": "lot"}, {"theft", "variance"}),
        ({"product_id": "product"}, {"theft", "variance"}),
        ({"staff_id": "nurse"}, {"theft"}),
        ({"staff_id": "witness"}, {"variance"}),
        ({"found_from": "2026-03-03"}, set()),
        ({"found_to": "2026-03-01"}, set()),
        ({"found_from": "2026-03-02", "found_to": "2026-03-02"}, {"theft", "variance"}),
    ],
)
async def test_the_queue_filters_combine(clinic, app, clock, signed_in, filters, listed):
    _event, theft = await stolen(clinic, app, clock)
    variance_id = await variance(app, clinic)
    ids = {"room": clinic.room.id, "lot": clinic.lot.id, "product": clinic.product.id,
           "nurse": clinic.nurse.id, "witness": clinic.witness.id}  # fmt: skip
    params = {k: ids.get(v, v) for k, v in filters.items()}
    text = (await queue(await officer(signed_in, clinic), clinic, **params)).text
    found = {name for name, i in (("theft", theft["id"]), ("variance", variance_id))
             if f"/console/discrepancies/{i}" in text}  # fmt: skip
    assert found == listed


async def test_the_queue_shows_closed_ones_when_asked_and_whom_each_is_assigned_to(
    clinic, app, clock, signed_in
):
    _event, theft = await stolen(clinic, app, clock)
    variance_id = await variance(app, clinic)
    browser = await officer(signed_in, clinic)
    case = f"/console/discrepancies/{variance_id}"
    await post(browser, f"{case}/assignment", {"staff_id": clinic.nurse.id})
    await post(browser, f"{case}/transitions", {"to": "acknowledged"})
    await post(browser, f"{case}/transitions", {"to": "resolved", "reason_code": "count_error"})
    assert case not in (await queue(browser, clinic)).text
    assert case in (await queue(browser, clinic, status="all")).text
    assert case in (await queue(browser, clinic, status="resolved")).text
    assigned = (await queue(browser, clinic, status="all", assigned_to=clinic.nurse.id)).text
    assert case in assigned
    assert "Nora Nurse" in assigned
    assert f"/console/discrepancies/{theft['id']}" not in assigned


async def test_the_queue_is_paged_in_its_order(clinic, app, clock, signed_in, monkeypatch):
    monkeypatch.setattr(cases, "PAGE_SIZE", 1)
    _event, theft = await stolen(clinic, app, clock)
    variance_id = await variance(app, clinic)
    browser = await officer(signed_in, clinic)
    first = (await queue(browser, clinic, severity="")).text
    assert f"/console/discrepancies/{theft['id']}" in first
    assert f"/console/discrepancies/{variance_id}" not in first
    assert "page=2" in first
    assert "Previous page" not in first
    second = (await queue(browser, clinic, severity="", page="2")).text
    assert f"/console/discrepancies/{variance_id}" in second
    assert "Previous page" in second
    assert "Next page" not in second


@pytest.mark.parametrize(
    "params",
    [{"severity": "dire"}, {"status": "closed"}, {"lot_id": "L-100"}, {"found_from": "3 March"},
     {"page": "0"}],
)  # fmt: skip
async def test_a_filter_it_cannot_read_is_refused(clinic, signed_in, params):
    browser = await officer(signed_in, clinic)
    params = {"registrant_id": clinic.registrant.id, **params}
    answer = await browser.get("/console/discrepancies", params=params)
    assert answer.status_code == 422
    assert "Invalid input" in answer.text


# The case page


async def test_the_case_page_names_its_subject_its_clocks_and_its_events(
    clinic, app, clock, signed_in, probe
):
    event, theft = await stolen(clinic, app, clock)
    browser = await officer(signed_in, clinic)
    answer = await browser.get(f"/console/discrepancies/{theft['id']}")
    assert answer.status_code == 200
    text = answer.text
    for shown_text in (
        THEFT,
        "theft",
        "critical",
        "open",
        "Vault",
        "L-100",
        "Ketamine HCl",
        "Nora Nurse",
        "due 2026-03-02",
        "due 2026-04-13",
        f'href="/console/ledger/events/{event["id"]}"',
        "Never assigned.",
    ):
        assert shown_text in text, shown_text
    assert "Acknowledge" in text
    assert "Report to the DEA" in text  # a theft may be reported straight away
    assert "Resolve" not in text
    [row] = await probe.audit_rows(answer.headers["x-request-id"])
    assert (row.kind, row.resource_type, row.resource_id) == (
        "patient_read", "discrepancy", theft["id"],
    )  # fmt: skip


async def test_the_patient_is_named_only_for_whoever_reads_patients(clinic, app, signed_in):
    found = await variance(app, clinic, patient_id=uuid.UUID(clinic.patient.id))
    page = f"/console/discrepancies/{found}"
    assert (
        clinic.patient.family_name not in (await (await officer(signed_in, clinic)).get(page)).text
    )
    both = await signed_in([Role.compliance_officer, Role.clinician], [clinic.registrant.id],
                           sub="officer-2")  # fmt: skip
    named = await both.get(page)
    assert named.status_code == 200
    assert clinic.patient.family_name in named.text
    assert clinic.patient.external_id in named.text


async def test_each_move_goes_through_its_form_and_is_kept_in_the_history(
    clinic, app, clock, signed_in, probe
):
    found = await variance(app, clinic)
    browser = await officer(signed_in, clinic)
    case = f"/console/discrepancies/{found}"
    acknowledging = {"to": "acknowledged", "note": "counting again"}
    acknowledged = await post(browser, f"{case}/transitions", acknowledging)
    assert (acknowledged.status_code, acknowledged.headers["location"]) == (303, case)
    [row] = await probe.audit_rows(acknowledged.headers["x-request-id"])
    assert (row.resource_type, row.resource_id, row.subject, row.status_code) == (
        "discrepancy", str(found), "officer-1", 303,
    )  # fmt: skip
    page = (await browser.get(case)).text
    assert "Resolve" in page
    assert "Unable to reconcile" in page
    unreasoned = await post(browser, f"{case}/transitions", {"to": "resolved"})
    assert unreasoned.status_code == 422
    assert "reason code" in unreasoned.text
    unable = await post(browser, f"{case}/transitions", {"to": "unable_to_reconcile"})
    assert unable.status_code == 303
    reported = await post(browser, f"{case}/transitions", {
        "to": "reported", "reported_on": "2026-03-02", "report_reference": "DEA-106-9",
    })  # fmt: skip
    assert reported.status_code == 303, reported.text
    history = (await browser.get(case)).text
    for move in (
        "open → acknowledged",
        "acknowledged → unable to reconcile",
        "unable to reconcile → reported",
        "counting again",
        "DEA-106-9",
        "Olive Officer",
    ):
        assert move in history, move
    assert "Move it" not in history  # nothing moves out of reported
    assert (await shown(clinic, found))["status"] == "reported"


async def test_a_theft_is_reported_through_the_form_with_its_notice(clinic, app, clock, signed_in):
    _event, theft = await stolen(clinic, app, clock)
    browser = await officer(signed_in, clinic)
    case = f"/console/discrepancies/{theft['id']}"
    report = {"to": "reported", "reported_on": "2026-03-02", "report_reference": "DEA-106-1"}
    unnoticed = await post(browser, f"{case}/transitions", report)
    assert unnoticed.status_code == 422
    assert "notice" in unnoticed.text
    noticed = await post(browser, f"{case}/transitions", report | {"notice_given_on": "2026-03-02"})
    assert noticed.status_code == 303
    after = await shown(clinic, theft["id"])
    assert (after["status"], after["notice_given_on"]) == ("reported", "2026-03-02")


async def test_a_resolution_through_the_form_gives_its_reason_code(clinic, app, signed_in):
    found = await variance(app, clinic)
    browser = await officer(signed_in, clinic)
    case = f"/console/discrepancies/{found}"
    await post(browser, f"{case}/transitions", {"to": "acknowledged"})
    vague = await post(browser, f"{case}/transitions", {"to": "resolved", "reason_code": "other"})
    assert vague.status_code == 422
    resolved = await post(browser, f"{case}/transitions",
                          {"to": "resolved", "reason_code": "count_error"})  # fmt: skip
    assert resolved.status_code == 303
    assert "count error" in (await browser.get(case)).text
    assert (await shown(clinic, found))["reason_code"] == "count_error"
    again = await post(browser, f"{case}/transitions", {"to": "acknowledged"})
    assert again.status_code == 409
    assert "Transition not allowed" in again.text


async def test_nobody_moves_nor_assigns_their_own_work(clinic, app, clock, signed_in):
    _event, theft = await stolen(clinic, app, clock)
    own = await signed_in(OFFICER, [clinic.registrant.id], sub="nurse-1", name="Nora Nurse")
    case = f"/console/discrepancies/{theft['id']}"
    page = await own.get(case)
    assert "This discrepancy is about your own work" in page.text
    assert 'id="move"' not in page.text  # no form offers a move, nor an assignment
    assert 'name="staff_id"' not in page.text
    assert 'name="text"' in page.text  # a note is still theirs to add
    refused = await post(own, f"{case}/transitions", {"to": "acknowledged"})
    assert refused.status_code == 403
    assert "About your own work" in refused.text
    assert "another officer moves it" in refused.text
    assigned = await post(own, f"{case}/assignment", {"staff_id": clinic.witness.id})
    assert assigned.status_code == 403
    after = await shown(clinic, theft["id"])
    assert (after["status"], after["transitions"], after["assignments"]) == ("open", [], [])


async def test_a_form_without_its_token_changes_nothing(clinic, app, clock, signed_in):
    _event, theft = await stolen(clinic, app, clock)
    browser = await officer(signed_in, clinic)
    case = f"/console/discrepancies/{theft['id']}"
    for path, data in (("transitions", {"to": "acknowledged"}), ("notes", {"text": "forged"}),
                       ("assignment", {"staff_id": clinic.witness.id})):  # fmt: skip
        answer = await post(browser, f"{case}/{path}", data, token=False)
        assert answer.status_code == 403, path
        assert "not sent from a page of your session" in answer.text
    after = await shown(clinic, theft["id"])
    assert (after["status"], after["notes"], after["assignments"]) == ("open", [], [])


async def test_another_registrants_officer_finds_no_case(
    clinic, app, clock, signed_in, admin_token
):
    _event, theft = await stolen(clinic, app, clock)
    other = await create_registrant(clinic.client, admin_token)
    stranger = await signed_in(OFFICER, [other["id"]], sub="officer-9")
    case = f"/console/discrepancies/{theft['id']}"
    assert (await stranger.get(case)).status_code == 404
    token = csrf_of(await stranger.get("/console/"))
    moved = await stranger.post(f"{case}/transitions", data={"csrf_token": token,
                                                             "to": "acknowledged"})  # fmt: skip
    assert moved.status_code == 404
    elsewhere = {"registrant_id": clinic.registrant.id}
    queue_elsewhere = await stranger.get("/console/discrepancies", params=elsewhere)
    assert queue_elsewhere.status_code == 404
    assert (await shown(clinic, theft["id"]))["status"] == "open"


async def test_a_clinician_has_no_queue_and_no_cases(clinic, app, clock, signed_in):
    _event, theft = await stolen(clinic, app, clock)
    nurse = await signed_in([Role.clinician], [clinic.registrant.id], sub="nurse-2")
    assert (await nurse.get("/console/discrepancies")).status_code == 403
    assert (await nurse.get(f"/console/discrepancies/{theft['id']}")).status_code == 403
    dashboard = await nurse.get("/console/", params={"registrant_id": clinic.registrant.id})
    assert 'href="/console/discrepancies' not in dashboard.text  # not in the menu either


async def test_a_case_is_assigned_and_written_on_from_its_page(
    clinic, app, clock, signed_in, probe
):
    _event, theft = await stolen(clinic, app, clock)
    browser = await officer(signed_in, clinic)
    case = f"/console/discrepancies/{theft['id']}"
    page = (await browser.get(case)).text
    assert f'value="{clinic.witness.id}"' in page
    assert f'value="{clinic.nurse.id}"' not in page  # it is about her work
    assigned = await post(browser, f"{case}/assignment", {"staff_id": clinic.witness.id})
    assert assigned.status_code == 303
    clock.advance(timedelta(minutes=5))
    noted = await post(browser, f"{case}/notes", {"text": "Asked Wes for\nthe count sheet."})
    assert (noted.status_code, noted.headers["location"]) == (303, f"{case}#notes")
    [row] = await probe.audit_rows(noted.headers["x-request-id"])
    assert (row.resource_type, row.resource_id) == ("discrepancy", theft["id"])
    text = (await browser.get(case)).text
    assert "To Wes Witness, by Olive Officer" in text
    assert "Asked Wes for\nthe count sheet." in text
    blank = await post(browser, f"{case}/notes", {"text": "  "})
    assert blank.status_code == 422
    nobody = await post(browser, f"{case}/assignment", {"staff_id": ""})
    assert nobody.status_code == 303
    after = await shown(clinic, theft["id"])
    assert [a["staff_id"] for a in after["assignments"]] == [clinic.witness.id, None]
    assert [n["text"] for n in after["notes"]] == ["Asked Wes for\nthe count sheet."]
