"""The console's PDMP page: a pharmacy's days still to report, each previewed, submitted and
answered through forms (with the session's token), by the same services as the API."""

from datetime import date
from typing import Any

import pytest

from app.auth.permissions import Role
from tests.console.conftest import CSRF, csrf_of
from tests.pharmacy.dispensary import Dispensary, open_dispensary
from tests.reports.pdmp.support import SUBMISSIONS, filled, officer

pytestmark = pytest.mark.usefixtures("dialect")


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    world = await open_dispensary(client, admin_token, token, clock)
    await filled(world, date(2026, 3, 2))  # a Monday; the clock then stands on Tuesday
    world.on(date(2026, 3, 4))
    return world


async def submitted(dispensary: Dispensary) -> list[dict[str, Any]]:
    answer = await dispensary.get(SUBMISSIONS, officer(dispensary), registrant_id=dispensary.id)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def assert_every_form_carries_the_token(html: str) -> None:
    token = CSRF.search(html)
    assert token
    assert token.group(1)
    posts = html.count('<form method="post"')
    assert posts > 1  # signing out, and acting on the day
    assert html.count(f'name="csrf_token" value="{token.group(1)}"') == posts


async def test_preview_submit_and_answer_a_day(signed_in, dispensary: Dispensary, probe) -> None:
    browser = await signed_in([Role.compliance_officer], [dispensary.id], name="Olive Officer")
    days = await browser.get("/console/pdmp", params={"registrant_id": dispensary.id})
    assert days.status_code == 200, days.text
    assert '<tr id="day-2026-03-02">' in days.text
    assert '<tr id="day-2026-03-03">' in days.text
    assert "not submitted" in days.text

    preview = await browser.get(
        "/console/pdmp/preview", params={"registrant_id": dispensary.id, "date": "2026-03-02"}
    )
    assert preview.status_code == 200, preview.text
    assert '<pre class="asap"' in preview.text
    assert "TH*4.2A*000000000*" in preview.text
    assert_every_form_carries_the_token(preview.text)
    [row] = await probe.audit_rows(preview.headers["x-request-id"])
    assert (row.kind, row.resource_type, row.resource_id) == ("report", "report", "pdmp")

    form = {"registrant_id": dispensary.id, "date": "2026-03-02"}
    forged = await browser.post("/console/pdmp/submissions", data=form)
    assert forged.status_code == 403
    assert await submitted(dispensary) == []

    sent = await browser.post("/console/pdmp/submissions",
                              data=form | {"csrf_token": csrf_of(preview)})  # fmt: skip
    assert sent.status_code == 303, sent.text
    [made] = await submitted(dispensary)
    assert (made["report_date"], made["status"], made["created_by_name"]) == (
        "2026-03-02", "awaiting_response", "Olive Officer")  # fmt: skip
    assert sent.headers["location"].endswith(f"#submission-{made['id']}")
    again = await browser.post("/console/pdmp/submissions",
                               data=form | {"csrf_token": csrf_of(preview)})  # fmt: skip
    assert again.status_code == 409  # a day is submitted once

    page = await browser.get(sent.headers["location"])
    assert made["control_number"] in page.text
    assert f"Record the state's answer to {made['control_number']}" in page.text
    assert_every_form_carries_the_token(page.text)
    answer_url = f"/console/pdmp/submissions/{made['id']}/responses"
    empty = await browser.post(answer_url, data={"csrf_token": csrf_of(page),
                                                 "outcome": "rejected"})  # fmt: skip
    assert empty.status_code == 422
    assert "a rejection lists the state" in empty.text
    rejected = await browser.post(answer_url, data={
        "csrf_token": csrf_of(page), "outcome": "rejected", "state_reference": "TX-42",
        "errors": "Date of birth is in the future\n\nUnknown prescriber\n",
    })  # fmt: skip
    assert rejected.status_code == 303, rejected.text
    [made] = await submitted(dispensary)
    assert made["status"] == "rejected"
    assert [e["message"] for e in made["responses"][0]["errors"]] == [
        "Date of birth is in the future", "Unknown prescriber"]  # fmt: skip
    shown = await browser.get("/console/pdmp", params={"registrant_id": dispensary.id})
    assert "Unknown prescriber" in shown.text
    assert f"Submit a correction of {made['control_number']}" in shown.text


async def test_a_day_not_ended_is_refused(signed_in, dispensary: Dispensary) -> None:
    browser = await signed_in([Role.compliance_officer], [dispensary.id])
    today = await browser.get(
        "/console/pdmp/preview", params={"registrant_id": dispensary.id, "date": "2026-03-04"}
    )
    assert today.status_code == 422
    assert "a day is reported once it has ended" in today.text


async def test_who_may_see_it(signed_in, dispensary: Dispensary) -> None:
    clinician = await signed_in([Role.clinician], [dispensary.id])
    refused = await clinician.get("/console/pdmp", params={"registrant_id": dispensary.id})
    assert refused.status_code == 403
    other = await signed_in([Role.compliance_officer], [dispensary.clinic_id])
    hidden = await other.get("/console/pdmp", params={"registrant_id": dispensary.id})
    assert hidden.status_code == 404
    preview = await other.get(
        "/console/pdmp/preview", params={"registrant_id": dispensary.id, "date": "2026-03-02"}
    )
    assert preview.status_code == 404
    clinic = await other.get("/console/pdmp", params={"registrant_id": dispensary.clinic_id})
    assert clinic.status_code == 200
    assert "only a pharmacy reports" in clinic.text
    page = await other.get("/console/", params={"registrant_id": dispensary.clinic_id})
    forged = await other.post(
        "/console/pdmp/submissions",
        data={"csrf_token": csrf_of(page), "registrant_id": dispensary.id, "date": "2026-03-02"},
    )
    assert forged.status_code == 404
    assert await submitted(dispensary) == []
