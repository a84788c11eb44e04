"""The perpetual inventory on both databases: per location and lot its opening balance, each
movement in order with the balance after it, each count with the ledger's balance and the
variance, and its closing balance; the same numbers in every format."""

import csv
import io
from typing import Any

import pytest

from app.reports.perpetual import COLUMNS
from tests.clinical.ward import Ward, at, open_ward
from tests.conftest import bearer
from tests.factories import assert_problem
from tests.ledger.support import count_body
from tests.reports.test_pdf import pages

DAY = {"from": "2026-03-02", "to": "2026-03-02"}
NEXT_DAY = {"from": "2026-03-03", "to": "2026-03-03"}


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


async def pulled(ward: Ward, token: str | None = None, **params: str) -> Any:
    asked = {"registrant_id": ward.id, **DAY, **params}
    return await ward.client.get("/v1/reports/perpetual-inventory", params=asked,
                                 headers=bearer(token or ward.officer_token))  # fmt: skip


async def report(ward: Ward, token: str | None = None, **params: str) -> Any:
    response = await pulled(ward, token, **params)
    assert response.status_code == 200, response.text
    return response


async def a_session_and_a_short_count(ward: Ward) -> dict[str, Any]:
    """A session at 04:00 draws 1 mL of the vial lot from the vault, gives 0.7 and wastes
    0.3 in front of the witness; at 05:00 the vault's vial lot is counted 48.5 (the ledger
    holds 49)."""
    ts = await ward.open_session("iv", scheduled_at=at(0))
    await ward.withdraw(ts, "1", minutes=5)
    await ward.step(ts, "administrations", {"lot_id": ward.vial_lot.id, "quantity": "0.7",
                                            "started_at": at(10), "ended_at": at(50)})  # fmt: skip
    wasted = {"lot_id": ward.vial_lot.id, "quantity": "0.3", "occurred_at": at(52),
              "witness_id": ward.witness.id}  # fmt: skip
    await ward.step(ts, "waste", wasted)
    counted = await ward.post("/v1/ledger/events", count_body(
        ward.id, ward.vault.id, ward.vial_lot.id, ward.nurse.id, "48.5", at(60),
    ))  # fmt: skip
    assert counted.status_code == 201, counted.text
    return ts


def picked(items: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(item[key] for key in keys) for item in items]


NUMBERS = ("entry", "quantity_in", "quantity_out", "balance", "counted", "variance")


async def test_each_balance_after_each_movement_and_the_count_variance(ward: Ward):
    ts = await a_session_and_a_short_count(ward)
    body = (await report(ward, location_id=ward.vault.id, lot_id=ward.vial_lot.id)).json()
    assert body["report"] == "perpetual_inventory"
    assert body["period"] == DAY
    items = body["items"]
    assert picked(items, *NUMBERS) == [
        ("opening balance", None, None, "0", None, None),
        ("receipt", "50", None, "50", None, None),
        ("move", None, "1", "49", None, None),
        ("count", None, None, "49", "48.5", "-0.5"),
        ("closing balance", None, None, "49", None, None),
    ]
    opening, receipt, move, count, closing = items
    assert opening["occurred_at"] == "2026-03-02T00:00:00-06:00"
    assert closing["occurred_at"] == "2026-03-03T00:00:00-06:00"
    assert {key: receipt[key] for key in (
        "location", "lot_number", "expires_on", "product", "ndc", "strength", "unit",
        "occurred_at", "performer", "performer_credential", "counterparty",
        "document_reference",
    )} == {
        "location": "Vault", "lot_number": ward.vial_lot.lot_number, "expires_on": "2027-01-31",
        "product": "Ketamine HCl injection 50 mg/mL, 10 mL vial", "ndc": "00409205105",
        "strength": "50 mg/mL", "unit": "mL", "occurred_at": "2026-03-02T03:00:00-06:00",
        "performer": ward.nurse.name, "performer_credential": receipt["performer_credential"],
        "counterparty": "Midwest Pharma Distribution", "document_reference": "INV-1",
    }  # fmt: skip
    assert receipt["performer_credential"].startswith("nurse")
    assert move["session_id"] == ts["id"]
    assert move["room"] == ward.room.name
    assert move["session"] == "2026-03-02T04:00:00-06:00"
    assert count["occurred_at"] == "2026-03-02T05:00:00-06:00"

    # The session's holding: what came in, what was given and wasted, by whom and for whom.
    holding = (await report(ward, location_id=ts["holding_location_id"])).json()["items"]
    assert picked(holding, *NUMBERS[:4], "witnesses") == [
        ("opening balance", None, None, "0", []),
        ("move", "1", None, "1", []),
        ("administer", None, "0.7", "0.3", []),
        ("waste", None, "0.3", "0", [ward.witness.name]),
        ("closing balance", None, None, "0", []),
    ]
    # A compliance officer may not read patients: the patient by record number alone.
    given = holding[2]
    assert given["patient_id"] == ward.iv_patient.id
    assert given["patient"] == ward.iv_patient.json["external_id"]


async def test_the_next_day_opens_where_the_last_closed(ward: Ward):
    await a_session_and_a_short_count(ward)
    items = (await report(ward, **NEXT_DAY)).json()["items"]
    vault_vial = [item for item in items if item["location"] == "Vault"
                  and item["lot_number"] == ward.vial_lot.lot_number]  # fmt: skip
    assert picked(vault_vial, *NUMBERS) == [
        ("opening balance", None, None, "49", None, None),
        ("closing balance", None, None, "49", None, None),
    ]
    # The emptied holding shows no more: nothing held, nothing moved.
    assert {item["location"] for item in items} == {"Vault"}


async def test_filters_narrow_the_places_and_the_lines(ward: Ward):
    ts = await a_session_and_a_short_count(ward)
    everything = (await report(ward)).json()["items"]
    places = {(item["location"], item["lot_number"]) for item in everything}
    assert places == {("Vault", ward.vial_lot.lot_number), ("Vault", ward.device_lot.lot_number),
                      (everything[0]["location"], ward.vial_lot.lot_number)}  # fmt: skip
    by_lot = (await report(ward, lot_id=ward.device_lot.id)).json()["items"]
    assert picked(by_lot, "entry", "balance") == [
        ("opening balance", "0"), ("receipt", "12"), ("closing balance", "12"),
    ]  # fmt: skip
    by_product = (await report(ward, product_id=ward.device_lot.json["product_id"])).json()
    assert by_product["items"] == by_lot
    # The witness witnessed the waste only: that line, its place's balances around it.
    witnessed = (await report(ward, staff_id=ward.witness.id)).json()["items"]
    assert picked(witnessed, "entry", "balance", "location_id") == [
        ("opening balance", "0", ts["holding_location_id"]),
        ("waste", "0", ts["holding_location_id"]),
        ("closing balance", "0", ts["holding_location_id"]),
    ]


async def test_a_patient_named_for_a_caller_who_may_read_patients(ward: Ward, token):
    ts = await a_session_and_a_short_count(ward)
    both = token(["compliance_officer", "clinician"], [ward.id], sub="officer-1", name="Olive")
    patient = ward.iv_patient.json
    named = f"{patient['given_name']} {patient['family_name']} ({patient['external_id']})"
    for fmt in ("json", "csv"):
        response = await report(ward, both, location_id=ts["holding_location_id"], format=fmt)
        if fmt == "json":
            assert response.json()["items"][2]["patient"] == named
        else:
            assert list(csv.DictReader(io.StringIO(response.text)))[2]["Patient"] == named


async def test_every_format_gives_the_same_numbers(ward: Ward):
    await a_session_and_a_short_count(ward)
    narrowed = {"location_id": ward.vault.id, "lot_id": ward.vial_lot.id}
    items = (await report(ward, **narrowed)).json()["items"]
    lines = (await report(ward, format="jsonl", **narrowed)).text.splitlines()
    assert len(lines) == len(items)
    rows = list(csv.DictReader(io.StringIO((await report(ward, format="csv", **narrowed)).text)))
    assert [(row["Entry"], row["In"], row["Out"], row["Balance"], row["Counted"],
             row["Variance"]) for row in rows] == [
        ("opening balance", "", "", "0", "", ""), ("receipt", "50", "", "50", "", ""),
        ("move", "", "1", "49", "", ""), ("count", "", "", "49", "48.5", "-0.5"),
        ("closing balance", "", "", "49", "", ""),
    ]  # fmt: skip
    assert [row["When"] for row in rows] == [item["occurred_at"] for item in items]
    assert rows[1]["Supplier or receiver"] == "Midwest Pharma Distribution"
    assert rows[1]["By"] == ward.nurse.name
    [page] = pages(await report(ward, format="pdf", **narrowed))
    for expected in (
        "Perpetual inventory",
        "Vault",
        ward.vial_lot.lot_number,
        "opening balance",
        "closing balance",
        "48.5",
        "-0.5",
        "Reviewed by",
    ):
        assert expected in page, expected


async def test_the_csv_of_every_place_is_the_json_in_text(ward: Ward):
    """The CSV (PostgreSQL's own on PostgreSQL) reads cell for cell as the JSON items."""
    ts = await a_session_and_a_short_count(ward)
    items = (await report(ward)).json()["items"]
    rows = list(csv.reader(io.StringIO((await report(ward, format="csv")).text)))
    assert rows[0] == [column.title for column in COLUMNS]

    def text(value: Any) -> str:
        if value is None:
            return ""
        return "; ".join(value) if isinstance(value, list) else str(value)

    assert rows[1:] == [[text(item[c.name]) for c in COLUMNS] for item in items]
    assert ts["id"] in {item["session_id"] for item in items}


async def test_who_may_pull_it(ward: Ward, token):
    refused = await pulled(ward, ward.nurse_token)
    assert_problem(refused, 403, "permission-denied")
    elsewhere = token(["compliance_officer"], ["00000000-0000-4000-8000-000000000000"])
    assert_problem(await pulled(ward, elsewhere), 404, "not-found")


async def test_a_reversal_is_a_line_and_names_what_it_undid(ward: Ward):
    """3 mL moved to the room at 04:05 by mistake, undone at 04:30: both lines, each with its
    balance, the move naming its reversal."""
    moved = await ward.post("/v1/ledger/events", {
        "registrant_id": ward.id, "type": "move", "location_id": ward.vault.id,
        "to_location_id": ward.room.id, "lot_id": ward.vial_lot.id, "quantity": "3",
        "occurred_at": at(5),
    })  # fmt: skip
    assert moved.status_code == 201, moved.text
    undone = await ward.post("/v1/ledger/events", {
        "registrant_id": ward.id, "type": "reversal", "reverses_event_id": moved.json()["id"],
        "reason": "moved to the wrong room", "occurred_at": at(30),
    }, ward.officer_token)  # fmt: skip
    assert undone.status_code == 201, undone.text
    for location, expected in ((ward.vault.id, [("receipt", "50"), ("move", "47"),
                                                ("reversal", "50")]),
                               (ward.room.id, [("move", "3"), ("reversal", "0")])):  # fmt: skip
        items = (await report(ward, location_id=location, lot_id=ward.vial_lot.id)).json()
        lines = items["items"][1:-1]
        assert picked(lines, "entry", "balance") == expected
        move = next(line for line in lines if line["entry"] == "move")
        assert move["reversed_by"] == undone.json()["id"]
        text = (await report(ward, format="csv", location_id=location,
                             lot_id=ward.vial_lot.id)).text  # fmt: skip
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [row["Balance"] for row in rows[1:-1]] == [b for _, b in expected]
        [moved_row] = [row for row in rows if row["Entry"] == "move"]
        assert moved_row["Reversed by"] == undone.json()["id"]
