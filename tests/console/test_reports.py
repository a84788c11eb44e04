"""The console's reports: every report the API serves offered with its form, each download
served by the API route's own code (the same bytes, headers and audit row), refusals shown
beside their fields, and the tenancy of the API."""

import re
import uuid
from datetime import timedelta

import pytest
from fastapi.routing import iter_route_contexts

from app.auth.permissions import Role
from app.console.report_catalog import API_REPORTS, TITLES
from tests.conftest import bearer
from tests.pharmacy.dispensary import Dispensary, open_dispensary

pytestmark = pytest.mark.usefixtures("dialect")

DAY = {"from": "2026-03-02", "to": "2026-03-02"}


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


def api_reports(app) -> set[str]:
    """Every report route of the API, found among all the application's routes."""
    return {
        (route.path or "").removeprefix(API_REPORTS)
        for route in iter_route_contexts(app.routes)
        if (route.path or "").startswith(API_REPORTS) and "GET" in (route.methods or ())
    }


async def test_the_page_offers_every_report_the_api_serves(app, signed_in, dispensary) -> None:
    officer = await signed_in([Role.compliance_officer], [dispensary.id])
    answer = await officer.get("/console/reports", params={"registrant_id": dispensary.id})
    assert answer.status_code == 200, answer.text
    served = api_reports(app)
    assert "dispensing-log" in served
    assert served == set(TITLES), "a report route the console's catalog does not title"
    console_paths = {route.path for route in iter_route_contexts(app.routes)}
    for slug in served:
        assert f'action="/console/reports/{slug}/download"' in answer.text, slug
        assert f"/console/reports/{slug}/download" in console_paths, slug
        assert TITLES[slug] in answer.text
    # Each form's ids are offered by name, never as bare ids.
    assert ">Dispensing shelf</option>" in answer.text
    assert ">Ketamine HCl USP powder</option>" in answer.text
    assert f">{dispensary.pharmacist.name}</option>" in answer.text
    assert '<button type="submit" name="format" value="pdf">PDF</button>' in answer.text
    assert '<input type="date" id="receipts-from" name="from" required' in answer.text


async def test_a_csv_and_a_pdf_through_the_console(
    signed_in, dispensary: Dispensary, probe
) -> None:
    officer = await signed_in([Role.compliance_officer], [dispensary.id], name="Olive Officer")
    params = {"registrant_id": dispensary.id, **DAY}
    csv = await officer.get("/console/reports/receipts/download", params=params | {"format": "csv"})
    assert csv.status_code == 200, csv.text
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    dea = dispensary.builder.registrant.dea_number
    assert csv.headers["content-disposition"] == f'attachment; filename="receipts-{dea}.csv"'
    token = dispensary.make_token(["compliance_officer"], [dispensary.id], sub="officer-rx")
    api = await dispensary.client.get("/v1/reports/receipts", params=params | {"format": "csv"},
                                      headers=bearer(token))  # fmt: skip
    assert csv.content == api.content  # one implementation
    assert "Spectrum Chemical" in csv.text

    pdf = await officer.get("/console/reports/receipts/download", params=params | {"format": "pdf"})
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'attachment; filename="receipts-{dea}.pdf"'
    assert pdf.content.startswith(b"%PDF")
    [row] = await probe.audit_rows(pdf.headers["x-request-id"])
    assert (row.kind, row.action, row.resource_type, row.resource_id, row.status_code) == (
        "report", "receipts_report", "report", "receipts", 200)  # fmt: skip
    assert (row.subject_name, row.route) == ("Olive Officer", "/console/reports/receipts/download")
    assert str(row.registrant_id) == dispensary.id
    assert row.parameters["format"] == ["pdf"]


async def test_a_form_of_one_thing_runs_as_the_api_does(signed_in, dispensary: Dispensary) -> None:
    """The inventory at an instant: an instant with its offset, its kind from the route's
    enumeration; an instant to come is refused as the API refuses it."""
    officer = await signed_in([Role.compliance_officer], [dispensary.id])
    params = {"registrant_id": dispensary.id, "kind": "ad_hoc", "taken_at": "close_of_business"}
    earlier = (dispensary.clock.now() - timedelta(minutes=1)).isoformat()
    past = await officer.get("/console/reports/inventory/download",
                             params=params | {"as_of": earlier})  # fmt: skip
    assert past.status_code == 200, past.text
    assert past.json()["report"] == "inventory"
    future = await officer.get("/console/reports/inventory/download",
                               params=params | {"as_of": "2099-03-02T17:00:00-06:00"})  # fmt: skip
    assert future.status_code == 422
    assert re.search(r'id="inventory-as_of-error">an inventory is of an instant that has passed',
                     future.text)  # fmt: skip


async def test_refused_parameters_come_back_as_the_form(
    signed_in, dispensary: Dispensary, probe
) -> None:
    officer = await signed_in([Role.compliance_officer], [dispensary.id])
    backwards = {"registrant_id": dispensary.id, "from": "2026-03-05", "to": "2026-03-01",
                 "format": "csv"}  # fmt: skip
    answer = await officer.get("/console/reports/receipts/download", params=backwards)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert '<p class="field-error" id="receipts-to-error">the last day is before the first</p>' in (
        answer.text
    )
    assert 'value="2026-03-05"' in answer.text  # the form as it was sent
    [row] = await probe.audit_rows(answer.headers["x-request-id"])
    assert (row.kind, row.status_code) == ("refused", 422)

    malformed = await officer.get("/console/reports/waste-log/download",
                                  params=backwards | {"from": "March"})  # fmt: skip
    assert malformed.status_code == 422
    assert 'id="waste-log-from-error"' in malformed.text
    assert 'aria-invalid="true" aria-describedby="waste-log-from-error"' in malformed.text

    unknown = await officer.get(
        "/console/reports/dea-form-106/download",
        params={"discrepancy_id": "nope", "page_registrant_id": dispensary.id},
    )
    assert unknown.status_code == 422
    assert 'id="dea-form-106-discrepancy_id-error"' in unknown.text


async def test_a_clinician_is_refused(signed_in, dispensary: Dispensary) -> None:
    clinician = await signed_in([Role.clinician], [dispensary.id])
    page = await clinician.get("/console/reports", params={"registrant_id": dispensary.id})
    assert page.status_code == 403
    pull = await clinician.get("/console/reports/receipts/download",
                               params={"registrant_id": dispensary.id, **DAY})  # fmt: skip
    assert pull.status_code == 403
    assert "Reports" not in (await clinician.get("/console/")).text.split("<main")[0]


async def test_another_registrants_officer_finds_nothing(signed_in, dispensary: Dispensary) -> None:
    other = await signed_in([Role.compliance_officer], [dispensary.clinic_id])
    page = await other.get("/console/reports", params={"registrant_id": dispensary.id})
    assert page.status_code == 404
    pull = await other.get(
        "/console/reports/receipts/download",
        params={"registrant_id": dispensary.id, **DAY, "format": "csv"},
    )
    assert pull.status_code == 404
    assert "Spectrum" not in pull.text
    nothing = await other.get("/console/reports/no-such-report/download")
    assert nothing.status_code == 404
    form = await other.get("/console/reports/dea-form-106/download",
                           params={"discrepancy_id": str(uuid.uuid4())})  # fmt: skip
    assert form.status_code == 404
