"""Reports printed as PDF on both databases: opened with pypdf, every page headed by the
registrant, and refused past the configured number of rows."""

import io

import pytest
from pypdf import PdfReader

from tests.conftest import bearer
from tests.factories import assert_problem
from tests.pharmacy.dispensary import Dispensary, open_dispensary
from tests.reports.test_dispensing_log import filled_twice, officer

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


async def pulled(dispensary: Dispensary, report: str, **params: str):
    return await dispensary.client.get(
        f"/v1/reports/{report}", params={"registrant_id": dispensary.id, **MARCH, **params},
        headers=bearer(officer(dispensary)),
    )  # fmt: skip


def pages(response) -> list[str]:
    """Each page's text, its whitespace made single spaces: a cell wraps at its spaces."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return [" ".join(page.extract_text().split())
            for page in PdfReader(io.BytesIO(response.content)).pages]  # fmt: skip


async def test_the_dispensing_log_printed_with_the_registrant_on_every_page(
    dispensary: Dispensary, app
):
    rx, _ = await filled_twice(dispensary)
    registrant = (await dispensary.get(f"/v1/registrants/{dispensary.id}")).json()
    response = await pulled(dispensary, "dispensing-log", format="pdf")
    assert response.headers["content-disposition"].endswith('.pdf"')
    [page] = pages(response)
    for text in (registrant["name"], f"DEA registration {registrant['dea_number']}",
                 "100 Main St, Austin, TX 78701", "Dispensing and administration log",
                 "2026-03-01 to 2026-03-31", "Page 1", rx["rx_number"], "Ada Lovelace",
                 "Grace Hopper, MD"):  # fmt: skip
        assert text in page, text

    # Enough rows for several pages: the audit trail, after 80 reads of the patient.
    for _ in range(80):
        read = await dispensary.get(f"/v1/patients/{dispensary.patient.id}")
        assert read.status_code == 200
    trail = pages(await pulled(dispensary, "audit-trail", format="pdf"))
    assert len(trail) >= 2
    for number, text in enumerate(trail, start=1):
        assert registrant["name"] in text
        assert f"DEA registration {registrant['dea_number']}" in text
        assert f"Page {number}" in text


async def test_an_empty_report_prints_a_page_that_says_so(dispensary: Dispensary):
    [page] = pages(await pulled(dispensary, "dispensing-log", format="pdf",
                                **{"from": "2026-01-01", "to": "2026-01-31"}))  # fmt: skip
    assert "Nothing to report." in page


async def test_a_pdf_past_the_row_limit_is_refused_and_points_to_csv(dispensary: Dispensary, app):
    await filled_twice(dispensary)
    app.state.settings = app.state.settings.model_copy(update={"report_pdf_max_rows": 1})
    refused = await pulled(dispensary, "dispensing-log", format="pdf")
    problem = assert_problem(refused, 422, "pdf-too-long")
    assert "format=csv" in problem["detail"]
    assert (await pulled(dispensary, "dispensing-log", format="csv")).status_code == 200


@pytest.mark.parametrize(("report", "title", "params"), [
    ("receipts", "Receipts", MARCH),
    ("inventory", "Inventory", {"as_of": "2026-03-02T20:00:00Z"}),
    ("discrepancies", "Discrepancies", MARCH),
    ("audit-trail", "Audit trail", MARCH),
    ("dea-form-41", "DEA Form 41 data", MARCH),
    ("rems-monitoring", "Spravato REMS patient monitoring", MARCH),
    ("compounding-batches", "Compounding batch records", MARCH),
])  # fmt: skip
async def test_every_report_prints(dispensary: Dispensary, report, title, params):
    await filled_twice(dispensary)
    registrant = (await dispensary.get(f"/v1/registrants/{dispensary.id}")).json()
    response = await dispensary.client.get(
        f"/v1/reports/{report}", params={"registrant_id": dispensary.id, "format": "pdf", **params},
        headers=bearer(officer(dispensary)),
    )  # fmt: skip
    first, *_ = pages(response)
    assert title in first
    assert registrant["name"] in first
    assert f"DEA registration {registrant['dea_number']}" in first
