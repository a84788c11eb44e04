"""The record of one inventory (21 CFR 1304.11), as JSON and printed: its date, opening or
close of business, who took and witnessed it, each lot with what was counted beside the
ledger, and lines to sign."""

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from tests.conftest import bearer
from tests.factories import assert_problem
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.test_inventories import counted, sign, started, stock, witnessed


@pytest.fixture
async def stocked(client, admin_token, token) -> Clinic:
    return await stock(await open_clinic(client, admin_token, token))


async def signed_short(clinic: Clinic) -> dict[str, Any]:
    inventory = await started(clinic)
    await counted(clinic, inventory, "88", exactness="estimated")
    await counted(clinic, inventory, "10", location=clinic.room.id)
    assert (await witnessed(clinic, inventory, clinic.witness_token)).status_code == 200
    response = await sign(clinic, inventory)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def record(clinic: Clinic, inventory: dict[str, Any], fmt: str) -> httpx.Response:
    return await clinic.client.get(
        "/v1/reports/inventory-record",
        params={"inventory_id": inventory["id"], "format": fmt},
        headers=bearer(clinic.officer_token),
    )


async def test_the_record_as_json_names_who_took_it_and_each_lot(stocked):
    inventory = await signed_short(stocked)
    response = await record(stocked, inventory, "json")
    assert response.status_code == 200, response.text
    body = response.json()
    head = {key: body[key] for key in ("report", "inventory_kind", "date", "taken_at", "state")}
    assert head == {"report": "inventory_record", "inventory_kind": "biennial inventory",
                    "date": "2026-03-02", "taken_at": "close of business",
                    "state": "signed"}  # fmt: skip
    assert body["as_of"] == "2026-03-02T08:55:00-06:00"
    assert body["taken_by"].startswith("Olive Officer (compliance officer")
    assert body["witnessed_by"].startswith("Wes Witness (nurse")
    assert body["registrant"]["dea_number"]
    assert body["locations"] == ["Room 1", "Vault"]
    rows = {row["location"]: row for row in body["items"]}
    vault = rows["Vault"]
    assert (vault["counted"], vault["exactness"], vault["ledger_quantity"], vault["variance"]) == (
        "88", "estimated", "90", "-2")  # fmt: skip
    assert (vault["ndc"], vault["lot_number"], vault["expires_on"], vault["strength"]) == (
        "00409205105", "L-100", "2027-01-31", "50 mg/mL")  # fmt: skip
    assert (vault["package_size"], vault["containers"], vault["counted_by"]) == (
        "10", "8.8", "Olive Officer")  # fmt: skip
    assert vault["event_id"] == next(e["event_id"] for e in inventory["entries"]
                                     if e["location"]["name"] == "Vault")  # fmt: skip


async def test_the_record_printed_has_its_lines_and_signatures(stocked, tmp_path: Path):
    inventory = await signed_short(stocked)
    response = await record(stocked, inventory, "pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    for expected in ("Inventory record (21 CFR 1304.11)", "biennial inventory",
                     "close of business", "Olive Officer", "Wes Witness", "00409205105",
                     "L-100", "2027-01-31", "estimated", "-2", "Vault", "Room 1",
                     "Inventory taken by Olive Officer", "Witnessed by Wes Witness"):  # fmt: skip
        assert expected in text, expected
    (tmp_path / "record.pdf").write_bytes(response.content)


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_a_role_that_takes_no_counts_pulls_no_record(stocked, dialect):
    inventory = await started(stocked)
    admin = stocked.builder.token("prescriber", "prescriber-1")
    response = await stocked.client.get("/v1/reports/inventory-record",
                                        params={"inventory_id": inventory["id"]},
                                        headers=bearer(admin))  # fmt: skip
    assert_problem(response, 403, "permission-denied")
