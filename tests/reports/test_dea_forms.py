"""DEA Form 41 and Form 106 data on both databases."""

from datetime import timedelta
from typing import Any

import pytest

from app.worker import Worker
from tests.conftest import START, bearer
from tests.factories import assert_problem, create, staff_body
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended, count_body, stolen

NDC = "00409205105"
"""The test injection's NDC (0409-2051-05) as stored: 11 digits."""


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def get(clinic: Clinic, path: str, token: str | None = None, **params: str) -> Any:
    return await clinic.client.get(f"/v1/reports/{path}", params=params,
                                   headers=bearer(token or clinic.officer_token))  # fmt: skip


async def settled(app, clock) -> None:
    await Worker(app.state.database, app.state.settings, clock, periodic=()).run_until_idle()


async def test_form_41_lists_each_destruction_with_its_packages_method_and_witnesses(
    clinic: Clinic, admin_token: str
):
    second = await create(clinic.client, f"/v1/registrants/{clinic.registrant.id}/staff",
                          staff_body(role="nurse", name="Sam Second"), admin_token)  # fmt: skip
    await appended(clinic, clinic.event("receipt", "10"))
    destroyed = await appended(clinic, clinic.event(
        "destroy", "4", witness_ids=[clinic.witness.id, second["id"]],
        destruction={"method": "incineration by Returns Co. (reverse distributor)",
                     "place": "Returns Co., 9 Depot Rd, Dallas TX", "full_packages": 0,
                     "partial_packages": 1},
    ))  # fmt: skip
    response = await get(clinic, "dea-form-41", registrant_id=clinic.registrant.id,
                         **{"from": "2026-03-02", "to": "2026-03-02"})  # fmt: skip
    assert response.status_code == 200, response.text
    form = response.json()
    assert (form["report"], form["registrant"]["dea_number"]) == (
        "dea_form_41", clinic.registrant.dea_number,
    )  # fmt: skip
    [item] = form["items"]
    assert item == {
        "event_id": destroyed["id"], "destroyed_at": "2026-03-02T08:55:00-06:00",
        "code": NDC, "product": clinic.product.name, "substance": "ketamine",
        "strength": "50 mg/mL", "dosage_form": "injection", "package_size": "10",
        "lot_number": "L-100", "full_packages": 0, "partial_packages": 1, "quantity": "4",
        "unit": "mL", "mg": "200",
        "method": "incineration by Returns Co. (reverse distributor)",
        "place": "Returns Co., 9 Depot Rd, Dallas TX",
        "witnesses": [clinic.witness.name, "Sam Second"],
        "destroyed_by": clinic.nurse.name, "reversed_by": None,
    }  # fmt: skip


async def test_form_106_of_a_theft(clinic: Clinic, app, clock):
    theft, found = await stolen(clinic, app, clock)
    response = await get(clinic, "dea-form-106", discrepancy_id=found["id"])
    assert response.status_code == 200, response.text
    form = response.json()
    assert {key: form[key] for key in (
        "report", "discrepancy_id", "date_of_discovery", "type_of_loss", "notice_due_on",
        "notice_given_on", "form_106_due_on", "reported_on",
    )} == {
        "report": "dea_form_106", "discrepancy_id": found["id"],
        "date_of_discovery": "2026-02-27", "type_of_loss": "theft",
        "notice_due_on": "2026-03-02", "notice_given_on": None,
        "form_106_due_on": "2026-04-13", "reported_on": None,
    }  # fmt: skip
    assert form["registrant"]["name"] == clinic.registrant.name
    assert form["items"] == [{
        "event_id": theft["id"], "occurred_at": "2026-02-27T12:00:00-06:00",
        "recorded_as": "theft", "code": NDC, "product": clinic.product.name,
        "substance": "ketamine", "strength": "50 mg/mL", "dosage_form": "injection",
        "lot_number": "L-100", "quantity_lost": "2", "unit": "mL", "mg_lost": "100",
    }]  # fmt: skip


async def test_form_106_of_a_significant_shortfall_and_none_of_a_small_one(
    clinic: Clinic, app, clock, admin_token, token
):
    """100 mL received, 50 moved out: counted 49 (minor) and then 40 (significant, 10 short)."""
    rid, vault, lot = clinic.registrant.id, clinic.vault.id, clinic.lot.id
    await appended(clinic, clinic.event("receipt", "100", occurred_at=(
        START - timedelta(minutes=60)).isoformat()))  # fmt: skip
    await appended(
        clinic,
        clinic.event(
            "move",
            "50",
            to_location_id=clinic.room.id,
            occurred_at=(START - timedelta(minutes=50)).isoformat(),
        ),
    )
    await appended(clinic, count_body(rid, vault, lot, clinic.nurse.id, "49",
                                      START - timedelta(minutes=40), "initial"))  # fmt: skip
    large = await appended(clinic, count_body(rid, vault, lot, clinic.nurse.id, "40",
                                              START - timedelta(minutes=30)))  # fmt: skip
    run = await clinic.client.post("/v1/reconciliation/runs", json={
        "registrant_id": rid, "first_day": "2026-03-02", "last_day": "2026-03-02"},
        headers=bearer(clinic.officer_token))  # fmt: skip
    assert run.status_code == 202, run.text
    await settled(app, clock)
    found = (await clinic.client.get("/v1/discrepancies", params={
        "registrant_id": rid, "rule": "count_variance"}, headers=bearer(clinic.officer_token))
    ).json()["items"]  # fmt: skip
    significant = next(d for d in found if d["severity"] == "significant")
    minor = next(d for d in found if d["severity"] == "minor")

    form = (await get(clinic, "dea-form-106", discrepancy_id=significant["id"])).json()
    assert (form["type_of_loss"], form["date_of_discovery"]) == ("other", "2026-03-02")
    assert [(i["event_id"], i["recorded_as"], i["quantity_lost"], i["mg_lost"])
            for i in form["items"]] == [(large["id"], "count", "10", "500")]  # fmt: skip

    assert_problem(await get(clinic, "dea-form-106", discrepancy_id=minor["id"]), 422,
                   "not-reportable")  # fmt: skip
    other = await open_clinic(clinic.client, admin_token, token)
    assert_problem(await get(clinic, "dea-form-106", other.officer_token,
                             discrepancy_id=significant["id"]), 404, "not-found")  # fmt: skip
