"""The waste and destruction log on both databases: each waste with the session and room it
came from, both people and when each signed; each destruction with its Form 41 fields."""

import csv
import io
from typing import Any

import pytest
from pypdf import PdfReader

from tests.clinical.ward import Ward, at, open_ward
from tests.conftest import bearer
from tests.factories import create, staff_body

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


async def log(ward: Ward, **params: str) -> Any:
    asked = {"registrant_id": ward.id, **MARCH, **params}
    response = await ward.client.get("/v1/reports/waste-log", params=asked,
                                     headers=bearer(ward.officer_token))  # fmt: skip
    assert response.status_code == 200, response.text
    return response


async def infused_and_wasted(ward: Ward, *, confirmed: bool, start: int = 0) -> Any:
    """A session ``start`` minutes after 04:00 in Chicago: one mL drawn, 0.7 given, 0.3
    wasted in front of the witness (who confirms it or not)."""
    ts = await ward.open_session("iv", scheduled_at=at(start))
    await ward.withdraw(ts, "1", minutes=start + 5)
    await ward.step(ts, "administrations", {"lot_id": ward.vial_lot.id, "quantity": "0.7",
                                            "started_at": at(start + 10),
                                            "ended_at": at(start + 50)})  # fmt: skip
    wasted = await ward.step(ts, "waste", {"lot_id": ward.vial_lot.id, "quantity": "0.3",
                                           "occurred_at": at(start + 52),
                                           "witness_id": ward.witness.id})  # fmt: skip
    if confirmed:
        await ward.step(ts, "witness-confirmations", {"event_id": wasted["event"]["id"]},
                        ward.witness_token)  # fmt: skip
    return ts, wasted["event"]


async def test_a_waste_names_its_session_room_people_and_when_each_signed(ward: Ward):
    ts, event = await infused_and_wasted(ward, confirmed=True)
    _, unconfirmed = await infused_and_wasted(ward, confirmed=False, start=180)
    first, second = (await log(ward)).json()["items"]
    assert first == {
        "event_id": event["id"], "occurred_at": "2026-03-02T04:52:00-06:00", "kind": "waste",
        "substance": "ketamine", "product": "Ketamine HCl injection 50 mg/mL, 10 mL vial",
        "ndc": "00409205105", "dosage_form": "injection", "strength": "50 mg/mL",
        "lot_number": ward.vial_lot.lot_number, "quantity": "0.3", "unit": "mL", "mg": "15",
        "location": ward.room.name, "session": "2026-03-02T04:00:00-06:00",
        "session_id": ts["id"], "by": ward.nurse.name,
        "by_signed_at": "2026-03-02T09:00:00-06:00", "witnesses": [ward.witness.name],
        "witnesses_signed": [f"{ward.witness.name} at 2026-03-02 09:00 CST"],
        "method": None, "place": None, "package_size": None, "full_packages": None,
        "partial_packages": None, "reversed_by": None,
    }  # fmt: skip
    assert second["event_id"] == unconfirmed["id"]
    assert second["witnesses_signed"] == [f"{ward.witness.name}, not confirmed"]

    by_witness = (await log(ward, staff_id=ward.witness.id)).json()["items"]
    assert [item["event_id"] for item in by_witness] == [event["id"], unconfirmed["id"]]
    assert (await log(ward, staff_id=ward.prescriber.id)).json()["items"] == []
    in_room = (await log(ward, location_id=ward.room.id)).json()["items"]
    assert len(in_room) == 2
    assert (await log(ward, lot_id=ward.device_lot.id)).json()["items"] == []

    rows = list(csv.DictReader(io.StringIO((await log(ward, format="csv")).text)))
    assert [row["Witnesses, signed"] for row in rows] == [
        f"{ward.witness.name} at 2026-03-02 09:00 CST", f"{ward.witness.name}, not confirmed",
    ]  # fmt: skip
    printed = (await log(ward, format="pdf")).content
    text = " ".join(PdfReader(io.BytesIO(printed)).pages[0].extract_text().split())
    for expected in ("Waste and destruction log", ward.room.name, "Reviewed by",
                     ward.vial_lot.lot_number):  # fmt: skip
        assert expected in text, expected


async def test_a_destruction_with_its_witnesses_method_place_and_packages(ward: Ward, admin_token):
    second = await create(ward.client, f"/v1/registrants/{ward.id}/staff",
                          staff_body(role="nurse", name="Sam Second"), admin_token)  # fmt: skip
    destroyed = await ward.post("/v1/ledger/events", {
        "registrant_id": ward.id, "type": "destroy", "location_id": ward.vault.id,
        "lot_id": ward.vial_lot.id, "quantity": "10", "occurred_at": at(30),
        "witness_ids": [ward.witness.id, second["id"]],
        "destruction": {"method": "incineration", "place": "Returns Co., Dallas TX",
                        "full_packages": 1, "partial_packages": 0},
    })  # fmt: skip
    assert destroyed.status_code == 201, destroyed.text
    [item] = (await log(ward)).json()["items"]
    assert {key: item[key] for key in (
        "kind", "quantity", "mg", "location", "session", "by", "witnesses", "method", "place",
        "package_size", "full_packages", "partial_packages",
    )} == {
        "kind": "destruction", "quantity": "10", "mg": "500", "location": ward.vault.name,
        "session": None, "by": ward.nurse.name, "witnesses": [ward.witness.name, "Sam Second"],
        "method": "incineration", "place": "Returns Co., Dallas TX", "package_size": "10",
        "full_packages": 1, "partial_packages": 0,
    }  # fmt: skip
