"""The inventory as of an instant on both databases: what the ledger held at each place then,
beside the physical count nearest that instant."""

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import START, bearer
from tests.factories import assert_problem, assert_refused
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended, count_body, reversal_body

INVENTORY = "/v1/reports/inventory"


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    """100 mL received on 1 January and counted at once; 30 moved to the room on 10 February;
    the vault counted 1 short on 20 February; 5 given in the room on 1 March."""
    clinic = await open_clinic(client, admin_token, token)
    rid = clinic.registrant.id

    def at(when: datetime) -> str:
        return when.isoformat()

    await appended(clinic, clinic.event("receipt", "100", occurred_at=at(utc(1, 1, 18))))
    vault, lot, nurse = clinic.vault.id, clinic.lot.id, clinic.nurse.id
    await appended(clinic, count_body(rid, vault, lot, nurse, "100", utc(1, 1, 19), "initial"))
    await appended(clinic, clinic.event("move", "30", occurred_at=at(utc(2, 10, 18)),
                                        to_location_id=clinic.room.id))  # fmt: skip
    await appended(clinic, count_body(rid, vault, lot, nurse, "69", utc(2, 20, 18)))
    await appended(clinic, clinic.event("administer", "5", occurred_at=at(utc(3, 1, 18)),
                                        location_id=clinic.room.id))  # fmt: skip
    return clinic


async def inventory(clinic: Clinic, as_of: datetime, **params: str) -> dict[str, Any]:
    response = await clinic.client.get(
        INVENTORY, params={"registrant_id": clinic.registrant.id, "as_of": as_of.isoformat(),
                           **params},
        headers=bearer(clinic.officer_token),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def by_place(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["location"]: item for item in report["items"]}


async def test_what_each_place_held_beside_the_nearest_count(clinic: Clinic):
    report = await inventory(clinic, utc(2, 15, 6), kind="biennial", taken_at="opening_of_business")
    assert (report["report"], report["as_of"], report["inventory_kind"], report["taken_at"]) == (
        "inventory", "2026-02-15T00:00:00-06:00", "biennial", "opening_of_business",
    )  # fmt: skip
    vault, room = by_place(report)["Vault"], by_place(report)["Room 1"]
    assert {key: vault[key] for key in ("on_hand", "unit", "package_size", "containers",
                                        "lot_number", "expires_on", "count_method")} == {
        "on_hand": "70", "unit": "mL", "package_size": "10", "containers": "7",
        "lot_number": "L-100", "expires_on": "2027-01-31", "count_method": "estimated allowed",
    }  # fmt: skip
    # 20 February (5 days after) is nearer than 1 January (45 days before).
    assert {key: vault[key] for key in ("counted_at", "counted", "expected_at_count",
                                        "count_kind", "counted_by")} == {
        "counted_at": "2026-02-20T12:00:00-06:00", "counted": "69", "expected_at_count": "70",
        "count_kind": "ad_hoc, close_of_business, exact", "counted_by": clinic.nurse.name,
    }  # fmt: skip
    assert (room["on_hand"], room["count_event_id"], room["counted"]) == ("30", None, None)
    assert (vault["substance"], vault["product"]) == ("ketamine", clinic.product.name)


async def test_the_instant_decides_what_is_held(clinic: Clinic):
    assert [i["on_hand"] for i in (await inventory(clinic, utc(1, 1, 18, 30)))["items"]] == ["100"]
    first = by_place(await inventory(clinic, utc(1, 1, 18, 30)))["Vault"]
    assert (first["counted"], first["expected_at_count"]) == ("100", "100")
    later = by_place(await inventory(clinic, utc(3, 2, 0)))
    assert (later["Vault"]["on_hand"], later["Room 1"]["on_hand"]) == ("70", "25")
    assert (await inventory(clinic, utc(1, 1, 17)))["items"] == []


async def test_a_reversed_count_is_no_count(clinic: Clinic):
    report = await inventory(clinic, utc(2, 15, 6))
    short = by_place(report)["Vault"]["count_event_id"]
    undo = reversal_body(clinic.registrant.id, short, START.isoformat())
    await appended(clinic, undo, clinic.officer_token)
    vault = by_place(await inventory(clinic, utc(2, 15, 6)))["Vault"]
    assert (vault["counted_at"], vault["counted"]) == ("2026-01-01T13:00:00-06:00", "100")


async def test_as_csv_and_refused_for_a_future_instant_or_another_registrant(
    clinic: Clinic, admin_token, token
):
    response = await clinic.client.get(
        INVENTORY, params={"registrant_id": clinic.registrant.id, "format": "csv",
                           "as_of": utc(3, 2, 0).isoformat()},
        headers=bearer(clinic.officer_token),
    )  # fmt: skip
    titles, *rows = list(csv.reader(io.StringIO(response.text)))
    assert titles[:3] == ["Location", "Substance", "Product"]
    assert sorted(row[0] for row in rows) == ["Room 1", "Vault"]

    future = await clinic.client.get(
        INVENTORY, params={"registrant_id": clinic.registrant.id,
                           "as_of": datetime(2027, 1, 1, tzinfo=UTC).isoformat()},
        headers=bearer(clinic.officer_token),
    )  # fmt: skip
    problem = assert_problem(future, 422, "invalid-input")
    assert problem["errors"][0]["parameter"] == "as_of"
    other = await open_clinic(clinic.client, admin_token, token)
    elsewhere = await clinic.client.get(
        INVENTORY, params={"registrant_id": clinic.registrant.id,
                           "as_of": utc(3, 2, 0).isoformat()},
        headers=bearer(other.officer_token),
    )  # fmt: skip
    assert_problem(elsewhere, 404, "not-found")


@pytest.mark.parametrize(
    "as_of",
    ["0388-06-25T20:09:05Z", "0388-06-25T14:18:28.945952-05:50:36", "2026-03-02T00:00:00",
     "2026-03-02", "1772409600", "2026-03-02T00:00:00+0000"],
    ids=["year 388", "year 388 on a local mean time", "no offset", "a date alone", "a number",
         "an offset without a colon"],
)  # fmt: skip
async def test_an_instant_not_of_rfc_3339_or_out_of_range_is_refused(clinic: Clinic, probe, as_of):
    url = clinic.client.build_request(
        "GET", INVENTORY, params={"registrant_id": clinic.registrant.id, "as_of": as_of}
    ).url
    await assert_refused(
        clinic.client, probe, "GET", str(url), status=422,
        problem="urn:csledger:problem:invalid-input", subject="officer-1",
        headers=bearer(clinic.officer_token), parameter="as_of",
    )  # fmt: skip
