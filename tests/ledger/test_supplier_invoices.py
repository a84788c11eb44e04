"""Suppliers' invoices sent as CSV (docs/domain.md#supplier-invoices): read strictly, every
problem named by row and column with nothing stored, a dry run storing nothing, a resend of
the same invoice stored once, another content refused, and each registrant's its own."""

import asyncio
import csv
import io
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ledger.invoices import reading
from tests.conftest import bearer
from tests.factories import assert_problem, assert_refused
from tests.ledger.conftest import SUPPLIER, Clinic, open_clinic

_KEYS = itertools.count(1)
HEADER = "invoice_number,invoice_date,supplier_dea_number,ndc,lot_number,quantity\n"
DEA = SUPPLIER["dea_number"]
GOOD = (HEADER + f"INV-1,2026-03-02,{DEA},0409-2051-05,L-100,20\n"
        f"INV-1,2026-03-02,{DEA},0409-2051-05,L-101,5.5\n"
        f"INV-2,2026-03-03,{DEA},00409205105,L-100,10\n")  # fmt: skip


def headers(token: str) -> dict[str, str]:
    return bearer(token) | {"Idempotency-Key": f"invoices-{next(_KEYS)}",
                            "Content-Type": "text/csv"}  # fmt: skip


def url(clinic: Clinic) -> str:
    return f"/v1/registrants/{clinic.registrant.id}/supplier-invoices"


async def send(clinic: Clinic, text: str, *, token: str | None = None, query: str = ""):
    return await clinic.client.post(url(clinic) + query, content=text.encode(),
                                    headers=headers(token or clinic.nurse_token))  # fmt: skip


async def test_a_file_of_two_invoices_is_stored_listed_and_read(clinic: Clinic):
    response = await send(clinic, GOOD)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["dry_run"] is False
    first, second = answer["invoices"]
    assert (first["invoice_number"], first["outcome"], first["supplier_dea_number"]) == (
        "INV-1", "stored", DEA)  # fmt: skip
    assert [(line["line_number"], line["ndc"], line["ndc_formatted"], line["lot_number"],
             line["quantity"]) for line in first["lines"]] == [
        (1, "00409205105", "00409-2051-05", "L-100", "20"),
        (2, "00409205105", "00409-2051-05", "L-101", "5.5"),
    ]  # fmt: skip
    assert second["invoice_date"] == "2026-03-03"
    assert len(second["lines"]) == 1
    listed = await clinic.client.get(url(clinic), headers=bearer(clinic.officer_token))
    assert listed.status_code == 200, listed.text
    assert {i["id"] for i in listed.json()["items"]} == {first["id"], second["id"]}
    read = await clinic.client.get(f"/v1/supplier-invoices/{first['id']}",
                                   headers=bearer(clinic.officer_token))  # fmt: skip
    assert read.status_code == 200, read.text
    assert read.json()["lines"] == first["lines"]
    assert read.json()["created_by"] == "nurse-1"


@pytest.mark.parametrize(
    ("row", "column", "problem"),
    [
        (f"INV-1,2026-03-02,{DEA},0409-2051-05,L-100,", "quantity", "empty"),
        (f"INV-1,2026-03-02,{DEA},0409-2051-05,L-100,1e3", "quantity", "invalid_quantity"),
        (f"INV-1,2026-03-02,{DEA},0409-2051-05,L-100,-2", "quantity", "invalid_quantity"),
        (f"INV-1,2026-03-02,{DEA},0409-2051-05,L-100,0", "quantity", "zero_quantity"),
        (f"INV-1,03/02/2026,{DEA},0409-2051-05,L-100,2", "invoice_date", "invalid_date"),
        (f"INV-1,2026-02-30,{DEA},0409-2051-05,L-100,2", "invoice_date", "invalid_date"),
        (f"INV-1,2026-W10-1,{DEA},0409-2051-05,L-100,2", "invoice_date", "invalid_date"),
        (f"INV-1,1899-12-31,{DEA},0409-2051-05,L-100,2", "invoice_date", "invalid_date"),
        ("INV-1,2026-03-02,PK1234564,0409-2051-05,L-100,2", "supplier_dea_number",
         "invalid_dea_number"),
        (f"INV-1,2026-03-02,{DEA},0409205105,L-100,2", "ndc", "invalid_ndc"),
        (f"INV-1,2026-03-02,{DEA},0409-2051-05,{'L' * 51},2", "lot_number", "too_long"),
        (f"INV-1,2026-03-02,{DEA},0409-2051-05,L-100", None, "cells_count"),
    ],
)  # fmt: skip
async def test_each_bad_cell_is_named_by_row_and_column_and_nothing_is_stored(
    clinic: Clinic, probe, row, column, problem
):
    text = HEADER + f"INV-9,2026-03-02,{DEA},0409-2051-05,L-100,1\n" + row + "\n"
    response = await assert_refused(
        clinic.client, probe, "POST", url(clinic), status=422,
        problem="urn:csledger:problem:supplier-invoice-file-invalid", subject="nurse-1",
        headers=headers(clinic.nurse_token), content=text.encode(),
    )  # fmt: skip
    assert [(p["row"], p["column"], p["problem"]) for p in response.json()["problems"]] == [
        (3, column, problem)
    ]


async def test_every_problem_of_a_file_is_answered_at_once(clinic: Clinic):
    text = "invoice_number,invoice_date,supplier_dea_number,ndc,lot,quantity\n"
    response = await send(clinic, text)
    body = assert_problem(response, 422, "supplier-invoice-file-invalid")
    assert [(p["row"], p["column"], p["problem"]) for p in body["problems"]] == [
        (1, "lot", "column_unknown"), (1, "lot_number", "column_missing")]  # fmt: skip
    text = (HEADER + f"INV-1,2026-03-02,{DEA},0409-2051-05,L-100,x\n"
            f"INV-1,2026-03-03,{DEA},0409-2051-05,L-101,1\n"
            f"INV-1,2026-03-02,{DEA},0409-2051-05,L-101,2\n")  # fmt: skip
    body = assert_problem(await send(clinic, text), 422, "supplier-invoice-file-invalid")
    assert [(p["row"], p["column"], p["problem"]) for p in body["problems"]] == [
        (2, "quantity", "invalid_quantity"),
        (4, "invoice_date", "date_differs"),  # against row 3, the invoice's first valid row
        (4, "lot_number", "line_repeated"),
    ]  # fmt: skip
    latin = await clinic.client.post(url(clinic), content=HEADER.encode() + b"INV-\xe9,",
                                     headers=headers(clinic.nurse_token))  # fmt: skip
    body = assert_problem(latin, 422, "supplier-invoice-file-invalid")
    assert [(p["row"], p["column"], p["problem"]) for p in body["problems"]] == [
        (0, None, "not_utf8")]  # fmt: skip


async def test_a_dry_run_answers_what_would_be_stored_and_stores_nothing(clinic: Clinic, probe):
    before = await probe.business_rows()
    response = await send(clinic, GOOD, query="?dry_run=true")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["dry_run"] is True
    assert [(i["outcome"], i["id"]) for i in answer["invoices"]] == [("would_store", None)] * 2
    after = await probe.business_rows()
    for table in ("supplier_invoices", "supplier_invoice_lines"):
        assert after[table] == before[table] == []


async def test_the_same_invoice_sent_again_is_stored_once(clinic: Clinic, probe):
    first = await send(clinic, GOOD)
    assert first.status_code == 201, first.text
    again = await send(clinic, GOOD)
    assert again.status_code == 200, again.text
    assert [i["outcome"] for i in again.json()["invoices"]] == ["already_stored"] * 2
    assert [i["id"] for i in again.json()["invoices"]] == [
        i["id"] for i in first.json()["invoices"]]  # fmt: skip
    # One invoice of a new file sent before, the other new: the new one is stored.
    mixed = HEADER + GOOD.splitlines()[3] + f"\nINV-3,2026-03-04,{DEA},0409-2051-05,L-100,1\n"
    response = await send(clinic, mixed)
    assert response.status_code == 201, response.text
    assert [i["outcome"] for i in response.json()["invoices"]] == ["already_stored", "stored"]
    assert len((await probe.business_rows())["supplier_invoices"]) == 3


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_the_same_file_sent_twice_at_once_is_stored_once(clinic: Clinic, probe):
    """Each request its own transaction: the second finds the invoices stored (once the first
    commits) and is answered so, or meets the first's rows and is told to send again."""
    first, second = await asyncio.gather(send(clinic, GOOD), send(clinic, GOOD))

    answers = sorted([first, second], key=lambda response: response.status_code)
    assert [r.status_code for r in answers] in ([200, 201], [201, 409]), [r.text for r in answers]
    if answers[1].status_code == 409:
        assert_problem(answers[1], 409, "already-exists", pointer="#")
        again = await send(clinic, GOOD)
        assert [i["outcome"] for i in again.json()["invoices"]] == ["already_stored"] * 2
    assert len((await probe.business_rows())["supplier_invoices"]) == 2


async def test_an_invoice_sent_again_with_other_content_is_refused(clinic: Clinic, probe):
    stored = await send(clinic, GOOD)
    invoice_id = stored.json()["invoices"][1]["id"]
    changed = HEADER + f"INV-2,2026-03-03,{DEA},00409205105,L-100,11\n"
    response = await assert_refused(
        clinic.client, probe, "POST", url(clinic), status=409,
        problem="urn:csledger:problem:supplier-invoice-changed", subject="nurse-1",
        headers=headers(clinic.nurse_token), content=changed.encode(),
    )  # fmt: skip
    assert response.json()["invoice_id"] == invoice_id


async def test_another_registrants_invoices_are_not_found(clinic: Clinic, client, admin_token,
                                                          token, probe):  # fmt: skip
    other = await open_clinic(client, admin_token, token, name="Other Clinic")
    stored = await send(other, GOOD)
    invoice_id = stored.json()["invoices"][0]["id"]
    await assert_refused(
        clinic.client, probe, "POST", url(other), status=404,
        problem="urn:csledger:problem:not-found", subject="nurse-1",
        headers=headers(clinic.nurse_token), content=GOOD.encode(),
    )  # fmt: skip
    read = await clinic.client.get(f"/v1/supplier-invoices/{invoice_id}",
                                   headers=bearer(clinic.officer_token))  # fmt: skip
    assert_problem(read, 404, "not-found")
    listed = await clinic.client.get(url(other), headers=bearer(clinic.officer_token))
    assert_problem(listed, 404, "not-found")


async def test_a_compliance_officer_reads_but_does_not_send(clinic: Clinic, probe):
    await assert_refused(
        clinic.client, probe, "POST", url(clinic), status=403,
        problem="urn:csledger:problem:permission-denied", subject="officer-1",
        headers=headers(clinic.officer_token), content=GOOD.encode(),
    )  # fmt: skip


async def test_a_file_not_sent_as_csv_is_refused(clinic: Clinic, probe):
    await assert_refused(
        clinic.client, probe, "POST", url(clinic), status=415,
        problem="urn:csledger:problem:supplier-invoice-media-type", subject="nurse-1",
        headers=headers(clinic.nurse_token) | {"Content-Type": "application/json"},
        content=GOOD.encode(),
    )  # fmt: skip


async def test_without_an_idempotency_key_the_file_is_refused(clinic: Clinic):
    response = await clinic.client.post(url(clinic), content=GOOD.encode(), headers=bearer(
        clinic.nurse_token) | {"Content-Type": "text/csv"})  # fmt: skip
    assert_problem(response, 428, "precondition-required")


cells = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@given(st.lists(st.lists(cells, min_size=1, max_size=8), max_size=6))
def test_reading_any_rows_answers_invoices_or_problems_never_fails(rows):
    written = io.StringIO()
    csv.writer(written).writerows(rows)
    text = HEADER + written.getvalue()
    problems: list[reading.FileProblem] = []
    invoices: list[reading.Invoice] = []
    try:
        invoices = reading.read(text.encode())
    except reading.Refused as refused:
        problems = refused.problems
    assert bool(problems) != bool(invoices)  # invoices, or the problems why not
    assert all(p.row >= 0 for p in problems)
    assert sum(len(i.lines) for i in invoices) <= len(rows)
    assert all(line.quantity > 0 for i in invoices for line in i.lines)
