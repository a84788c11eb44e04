"""Reports as a person reads them on paper: the page fitted to the columns, no code or
quantity cut across lines, every page counted and signed for by who generated it, a form's
own fields printed, and lines to sign where the paper record has them."""

import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader
from reportlab.lib.pagesizes import landscape, letter
from reportlab.pdfbase.pdfmetrics import stringWidth

from app.reports import pdf
from app.reports.tabular import Column
from tests.conftest import bearer
from tests.factories import create, staff_body
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended, stolen
from tests.pharmacy.dispensary import Dispensary, open_dispensary
from tests.reports.test_dispensing_log import filled_twice, officer
from tests.reports.test_pdf import MARCH


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


def lines(response) -> list[list[str]]:
    """Each page's lines of text, as printed."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    return [page.extract_text().splitlines() for page in reader.pages]


def sizes(response) -> list[tuple[float, float]]:
    reader = PdfReader(io.BytesIO(response.content))
    return [(float(page.mediabox.width), float(page.mediabox.height)) for page in reader.pages]


async def test_codes_lots_and_quantities_are_never_cut_and_pages_are_counted(
    dispensary: Dispensary,
):
    rx, _ = await filled_twice(dispensary)
    response = await dispensary.client.get(
        "/v1/reports/dispensing-log",
        params={"registrant_id": dispensary.id, "format": "pdf", **MARCH},
        headers=bearer(officer(dispensary)),
    )  # fmt: skip
    [page] = lines(response)
    words = {word for line in page for word in line.split()}
    for token in (dispensary.troche.compound_code, dispensary.troche_lot.lot_number,
                  dispensary.prescriber_dea_number, rx["rx_number"], "3000"):  # fmt: skip
        assert token in words, token
    assert "Page 1 of 1" in page
    generated = r"Generated 2026-03-26 11:00 CDT by .+"
    assert any(re.fullmatch(generated, line) for line in page)
    assert "2026-03-02 09:55 CST" in " ".join(page)  # an instant as a person reads it
    width, height = sizes(response)[0]
    assert width > height  # twenty columns: landscape


async def test_a_long_report_counts_its_pages_on_each(dispensary: Dispensary):
    for _ in range(80):
        assert (await dispensary.get(f"/v1/patients/{dispensary.patient.id}")).status_code == 200
    response = await dispensary.client.get(
        "/v1/reports/audit-trail",
        params={"registrant_id": dispensary.id, "format": "pdf", **MARCH},
        headers=bearer(officer(dispensary)),
    )  # fmt: skip
    printed = lines(response)
    assert len(printed) >= 2
    for number, page in enumerate(printed, start=1):
        assert f"Page {number} of {len(printed)}" in page


async def test_form_106_prints_every_field_it_has_and_a_line_to_sign(
    clinic: Clinic,
    app,
    clock,
):
    _, found = await stolen(clinic, app, clock)
    ask = {"discrepancy_id": found["id"]}
    headers = bearer(clinic.officer_token)
    form = (await clinic.client.get("/v1/reports/dea-form-106", params=ask, headers=headers)).json()
    printed = await clinic.client.get("/v1/reports/dea-form-106",
                                      params={**ask, "format": "pdf"}, headers=headers)  # fmt: skip
    [page] = lines(printed)
    text = " ".join(" ".join(page).split())
    expected = {
        "Discrepancy ID": found["id"], "Date of discovery": "2026-02-27",
        "Type of loss": "theft", "Notice due on": "2026-03-02", "Notice given on": "—",
        "Form 106 due on": "2026-04-13", "Reported on": "—", "Report reference": "—",
        "Summary": " ".join(form["summary"].split()),
    }  # fmt: skip
    assert set(form) - {"report", "registrant", "generated_at", "generated_by", "items"} == {
        key.lower().replace(" ", "_") for key in expected
    }, "every field of the form's JSON is printed"
    for label, value in expected.items():
        assert f"{label} {value}" in text, label
    assert "Registrant or person authorized to sign" in text
    assert f"by {form['generated_by']}" in text
    assert "00409205105" in {word for line in page for word in line.split()}  # the NDC, whole


async def test_form_41_and_the_inventory_end_with_lines_to_sign(clinic: Clinic, admin_token):
    second = await create(clinic.client, f"/v1/registrants/{clinic.registrant.id}/staff",
                          staff_body(role="nurse", name="Sam Second"), admin_token)  # fmt: skip
    await appended(clinic, clinic.event("receipt", "10"))
    await appended(clinic, clinic.event(
        "destroy", "4", witness_ids=[clinic.witness.id, second["id"]],
        destruction={"method": "incineration", "place": "Returns Co.", "full_packages": 0,
                     "partial_packages": 1},
    ))  # fmt: skip
    headers = bearer(clinic.officer_token)
    form_41 = await clinic.client.get("/v1/reports/dea-form-41", params={
        "registrant_id": clinic.registrant.id, "format": "pdf",
        "from": "2026-03-02", "to": "2026-03-02"}, headers=headers)  # fmt: skip
    text = " ".join(line for page in lines(form_41) for line in page)
    assert text.count("Date") >= 3
    assert "Destroyed by" in text
    assert text.count("Witness") >= 2
    inventory = await clinic.client.get("/v1/reports/inventory", params={
        "registrant_id": clinic.registrant.id, "format": "pdf",
        "as_of": "2026-03-02T14:59:00Z", "kind": "biennial"}, headers=headers)  # fmt: skip
    text = " ".join(line for page in lines(inventory) for line in page)
    assert "Inventory taken by" in text
    assert "Inventory kind biennial" in text


# The page and the columns' widths (pure)

WORDS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-./", min_size=1, max_size=30)
CELLS = st.lists(WORDS, min_size=1, max_size=4).map(" ".join)


@given(st.integers(min_value=1, max_value=24).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.lists(CELLS, min_size=n, max_size=n),
                                             min_size=1, max_size=6))))  # fmt: skip
def test_a_column_is_never_narrower_than_its_longest_word(table):
    count, texts = table
    columns = [Column(f"c{i}", f"Column {i}") for i in range(count)]
    layout, widths = pdf.fitted(columns, texts)
    page_width = layout.page[0] - 2 * pdf.MARGIN
    assert sum(widths) <= page_width + 0.01
    if layout is pdf.LAYOUTS[-1]:
        return  # past the widest page the columns are squeezed
    for index, width in enumerate(widths):
        cells = [cells[index] for cells in texts]
        title = [(word, "Helvetica-Bold") for word in columns[index].title.split(" ")]
        body = [(word, "Helvetica") for cell in cells for word in cell.split(" ")]
        for word, font in title + body:
            assert stringWidth(word, font, layout.font_size) <= width, word


def test_portrait_when_the_columns_fit_and_landscape_when_they_do_not():
    few = [Column("lot", "Lot"), Column("quantity", "Quantity")]
    layout, _ = pdf.fitted(few, [["L-100", "10"]])
    assert (layout.page, layout.font_size) == (letter, 9)
    many = [Column(f"c{i}", f"Column {i}") for i in range(14)]
    layout, _ = pdf.fitted(many, [["00409205105"] * 14])
    assert layout.page == landscape(letter)
    assert layout.font_size >= 7
