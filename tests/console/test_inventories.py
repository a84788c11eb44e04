"""The inventory pages: the list and the start form, the count sheet counted lot by lot (the
variance in the row at once), witnessed from the witness's own session, signed by whoever
took it, voided; refusals beside their row or as pages; the record served as the API's."""

import re
from typing import Any

import httpx
import pytest

from app.auth.permissions import Role
from app.console.web import CSRF_HEADER
from tests.conftest import bearer
from tests.console.conftest import SignIn, csrf_of
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.test_inventories import started, stock

pytestmark = pytest.mark.usefixtures("dialect")


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    """Lot L-100: 90 mL in the vault, 10 in room 1; nurse-1 and nurse-2 on the staff."""
    return await stock(await open_clinic(client, admin_token, token))


@pytest.fixture
async def nurse(signed_in: SignIn, clinic: Clinic) -> httpx.AsyncClient:
    return await signed_in([Role.clinician], [clinic.id], sub="nurse-1", name="Nora Nurse")


@pytest.fixture
async def inventory(clinic: Clinic) -> dict[str, Any]:
    """An open inventory of the vault and room 1, taken by nurse-1."""
    return await started(clinic, clinic.nurse_token)


def sheet_url(inventory: dict[str, Any]) -> str:
    return f"/console/inventories/{inventory['id']}"


def line_id(clinic: Clinic, location: Any = None) -> str:
    return f"line-{(location or clinic.vault).id}-{clinic.lot.id}"


def row_of(page: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{row_id}".*?</tr>', page, re.S)
    assert found, f"no row {row_id}"
    return found.group(0)


async def post_count(
    browser: httpx.AsyncClient, clinic: Clinic, inventory: dict[str, Any], quantity: str, *,
    location: Any = None, htmx: bool = False, token: str | None = None,
) -> httpx.Response:  # fmt: skip
    if token is None:
        token = csrf_of(await browser.get(sheet_url(inventory)))
    form = {"csrf_token": token, "location_id": (location or clinic.vault).id,
            "lot_id": clinic.lot.id, "quantity": quantity, "exactness": "exact"}  # fmt: skip
    headers = {"HX-Request": "true", CSRF_HEADER: token} if htmx else {}
    return await browser.post(f"{sheet_url(inventory)}/counts", data=form, headers=headers)


async def post(browser: httpx.AsyncClient, url: str, **form: str) -> httpx.Response:
    page = await browser.get("/console/")  # any page of the session holds its token
    return await browser.post(url, data={"csrf_token": csrf_of(page), **form})


async def read(clinic: Clinic, inventory: dict[str, Any]) -> dict[str, Any]:
    answer = await clinic.client.get(f"/v1/inventories/{inventory['id']}",
                                     headers=bearer(clinic.nurse_token))  # fmt: skip
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_an_inventory_is_started_from_the_list(clinic, nurse) -> None:
    listed = await nurse.get("/console/inventories", params={"registrant_id": clinic.id})
    assert listed.status_code == 200
    assert "No inventory taken here yet." in listed.text
    assert "Vault" in listed.text
    assert "Room 1" in listed.text
    answer = await nurse.post("/console/inventories", data={
        "csrf_token": csrf_of(listed), "registrant_id": clinic.id, "kind": "biennial",
        "as_of": "", "taken_at": "opening_of_business", "location_id": [clinic.vault.id],
    })  # fmt: skip
    assert answer.status_code == 303, answer.text
    inventory_id = answer.headers["location"].rsplit("/", 1)[1]
    made = await read(clinic, {"id": inventory_id})
    assert (made["kind"], made["taken_at"], made["location_ids"], made["taker"]["name"]) == (
        "biennial", "opening_of_business", [clinic.vault.id], "Nora Nurse")  # fmt: skip
    assert [(e["location_id"], e["ledger_quantity"]) for e in made["entries"]] == [
        (clinic.vault.id, "90")
    ]
    listed = await nurse.get("/console/inventories", params={"registrant_id": clinic.id})
    assert f'href="/console/inventories/{inventory_id}">biennial inventory' in listed.text
    assert "Nora Nurse" in listed.text
    assert "1 to count" in listed.text

    sheet = await nurse.get(f"/console/inventories/{inventory_id}")
    assert "Count of lot L-100" in sheet.text
    assert "shown once counted" in sheet.text  # a blind count: the ledger shows after


async def test_a_start_form_is_read_strictly(clinic, nurse, probe) -> None:
    listed = await nurse.get("/console/inventories", params={"registrant_id": clinic.id})
    before = await probe.business_rows()
    base = {
        "csrf_token": csrf_of(listed),
        "registrant_id": clinic.id,
        "kind": "biennial",
        "as_of": "",
        "taken_at": "close_of_business",
        "location_id": [clinic.vault.id],
    }
    for wrong, words in (({"kind": "annual"}, "one of initial, biennial, ad_hoc"),
                         ({"location_id": []}, "choose at least one location"),
                         ({"as_of": "yesterday"}, "a date and time"),
                         ({"as_of": "2099-01-01T10:00"}, "an instant that has passed"),
                         ):  # fmt: skip
        answer = await nurse.post("/console/inventories", data=base | wrong)
        assert answer.status_code == 422, wrong
        assert words in answer.text
    assert await probe.business_rows() == before


async def test_a_count_answers_its_row_with_the_variance(clinic, nurse, inventory) -> None:
    answer = await post_count(nurse, clinic, inventory, "88", htmx=True)
    assert answer.status_code == 200, answer.text
    row = row_of(answer.text, line_id(clinic))
    assert re.search(r'class="num">\s*90\s*</td>', row)  # what the ledger held
    assert re.search(r'class="variance">-2<', row)
    assert 'id="inventory-standing"' in answer.text
    assert 'hx-swap-oob="true"' in answer.text
    assert "required before signing" in answer.text  # the variance asks for a witness

    plain = await post_count(nurse, clinic, inventory, "10", location=clinic.room)
    assert plain.status_code == 303
    assert plain.headers["location"] == f"{sheet_url(inventory)}#{line_id(clinic, clinic.room)}"
    sheet = await nurse.get(sheet_url(inventory))
    assert '<span class="badge ok">none</span>' in row_of(sheet.text, line_id(clinic, clinic.room))
    assert [e["counted"] for e in (await read(clinic, inventory))["entries"]] == ["10", "88"]


async def test_a_malformed_count_is_refused_beside_its_row(clinic, nurse, inventory, probe):
    before = await probe.business_rows()
    page = await post_count(nurse, clinic, inventory, "8,5")
    assert page.status_code == 422
    row = row_of(page.text, line_id(clinic))
    assert "Not counted: quantity: &#39;8,5&#39; is not a quantity" in row
    assert 'value="8,5"' in row
    assert 'aria-invalid="true"' in row
    partial = await post_count(nurse, clinic, inventory, "-3", htmx=True)
    assert partial.status_code == 422
    assert "a quantity is never negative" in row_of(partial.text, line_id(clinic))
    assert await probe.business_rows() == before
    rows = await probe.audit_rows(partial.headers["x-request-id"])
    assert [(r.kind, r.problem_type) for r in rows] == [
        ("refused", "urn:csledger:problem:invalid-input")
    ]


async def test_only_the_taker_signs_and_only_once_counted(
    clinic, nurse, inventory, signed_in, probe
) -> None:
    uncounted = await post(nurse, f"{sheet_url(inventory)}/sign")
    assert uncounted.status_code == 409
    assert "2 lot(s) on the count sheet not yet counted" in uncounted.text
    await post_count(nurse, clinic, inventory, "90")
    await post_count(nurse, clinic, inventory, "10", location=clinic.room)
    other = await signed_in([Role.clinician], [clinic.id], sub="nurse-2", name="Wes Witness")
    page = await other.get(sheet_url(inventory))
    assert "Sign the inventory" not in page.text
    before = await probe.business_rows()
    refused = await post(other, f"{sheet_url(inventory)}/sign")
    assert refused.status_code == 403
    assert "signed by the staff member who started it" in refused.text
    assert await probe.business_rows() == before

    signed = await post(nurse, f"{sheet_url(inventory)}/sign")
    assert signed.status_code == 303
    page = await nurse.get(sheet_url(inventory))
    assert "Signed by Nora Nurse" in page.text
    assert "Count of lot" not in page.text  # a record: no longer counted
    assert (await read(clinic, inventory))["state"] == "signed"


async def test_a_variance_is_witnessed_from_the_witness_session(
    clinic, nurse, inventory, signed_in
) -> None:
    await post_count(nurse, clinic, inventory, "88")
    await post_count(nurse, clinic, inventory, "10", location=clinic.room)
    early = await post(nurse, f"{sheet_url(inventory)}/sign")
    assert early.status_code == 409
    assert "a witness signs this inventory first" in early.text
    assert "Witness this inventory" not in (await nurse.get(sheet_url(inventory))).text

    witness = await signed_in([Role.clinician], [clinic.id], sub="nurse-2", name="Wes Witness")
    assert "Witness this inventory" in (await witness.get(sheet_url(inventory))).text
    assert (await post(witness, f"{sheet_url(inventory)}/witness")).status_code == 303
    assert (await post(nurse, f"{sheet_url(inventory)}/sign")).status_code == 303
    page = await nurse.get(sheet_url(inventory))
    assert "Wes Witness" in page.text
    assert "Signed by Nora Nurse" in page.text
    history = page.text[page.text.index('id="history"') :]
    for step in ("started", "counted", "witnessed", "signed"):
        assert f"<td>{step}</td>" in history
    assert "lot L-100 at Vault: 88 (exact)" in history


async def test_an_open_inventory_is_voided_with_a_reason(clinic, nurse, inventory, probe):
    before = await probe.business_rows()
    blank = await post(nurse, f"{sheet_url(inventory)}/void", reason="  ")
    assert blank.status_code == 422
    assert "say why the inventory is voided" in blank.text
    assert await probe.business_rows() == before
    voided = await post(nurse, f"{sheet_url(inventory)}/void", reason="started as of the wrong day")
    assert voided.status_code == 303
    page = await nurse.get(sheet_url(inventory))
    assert "Voided on" in page.text
    assert "started as of the wrong day" in page.text
    assert (await read(clinic, inventory))["state"] == "voided"
    listed = await nurse.get("/console/inventories", params={"registrant_id": clinic.id})
    assert ">voided</span>" in listed.text


async def test_a_form_without_its_token_changes_nothing(clinic, nurse, inventory, probe) -> None:
    before = await probe.business_rows()
    for url, form in ((f"{sheet_url(inventory)}/counts",
                       {"location_id": clinic.vault.id, "lot_id": clinic.lot.id,
                        "quantity": "90", "exactness": "exact"}),
                      (f"{sheet_url(inventory)}/void", {"reason": "forged"}),
                      ("/console/inventories", {"registrant_id": clinic.id, "kind": "biennial",
                                                "taken_at": "close_of_business",
                                                "location_id": clinic.vault.id})):  # fmt: skip
        answer = await nurse.post(url, data={"csrf_token": "guessed", **form})
        assert answer.status_code == 403, url
    assert await probe.business_rows() == before


async def test_another_registrants_inventory_is_not_found(
    client, admin_token, token, clinic, inventory, signed_in
) -> None:
    other = await open_clinic(client, admin_token, token, name="Other Clinic")
    officer = await signed_in([Role.compliance_officer], [other.id], sub="officer-1")
    assert (await officer.get(sheet_url(inventory))).status_code == 404
    assert (await officer.get(f"{sheet_url(inventory)}/record.pdf")).status_code == 404
    page = await officer.get("/console/inventories", params={"registrant_id": other.id})
    counted = await post_count(officer, clinic, inventory, "90", token=csrf_of(page))
    assert counted.status_code == 404
    listed = await officer.get("/console/inventories", params={"registrant_id": clinic.id})
    assert listed.status_code == 404


async def test_a_role_that_takes_no_inventory_is_refused(clinic, inventory, signed_in) -> None:
    prescriber = await signed_in([Role.prescriber], [clinic.id])
    listed = await prescriber.get("/console/inventories", params={"registrant_id": clinic.id})
    assert listed.status_code == 403
    assert (await prescriber.get(sheet_url(inventory))).status_code == 403
    menu = await prescriber.get("/console/", params={"registrant_id": clinic.id})
    assert "/console/inventories" not in menu.text


async def test_the_record_is_the_reports(clinic, nurse, inventory, probe) -> None:
    printed = await nurse.get(f"{sheet_url(inventory)}/record.pdf")
    assert printed.status_code == 200
    assert printed.content.startswith(b"%PDF")
    rows = await probe.audit_rows(printed.headers["x-request-id"])
    assert [(r.kind, r.resource_id) for r in rows] == [("report", "inventory_record")]
    data = await nurse.get(f"{sheet_url(inventory)}/record.json")
    api = await clinic.client.get("/v1/reports/inventory-record",
                                  params={"inventory_id": inventory["id"]},
                                  headers=bearer(clinic.nurse_token))  # fmt: skip
    assert data.json()["items"] == api.json()["items"]
    assert data.json()["inventory_id"] == inventory["id"]
