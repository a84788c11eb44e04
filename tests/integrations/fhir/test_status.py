"""Repeats, conflicts and status changes: a resource is stored and moves stock once per sender
and identifier; a conditional PUT changes its status, and entered-in-error reverses it."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.clinical.ward import Ward, at
from tests.conftest import bearer
from tests.integrations.fhir.support import (
    Sender,
    ketamine_infusion,
    ledger_event,
    ledger_event_ids,
    send,
)


@pytest.fixture
async def stocked_room(ward: Ward) -> Ward:
    """Two mL of the vial lot moved into the procedure room, where the EHR's records draw."""
    move = {"registrant_id": ward.id, "type": "move", "location_id": ward.vault.id,
            "to_location_id": ward.room.id, "lot_id": ward.vial_lot.id, "quantity": "2",
            "occurred_at": at(0)}  # fmt: skip
    moved = await ward.post("/v1/ledger/events", move)
    assert moved.status_code == 201, moved.text
    return ward


def infusion(ward: Ward, ehr: Sender) -> dict[str, Any]:
    return ketamine_infusion(mrn=ward.iv_patient.external_id, npi_value=ehr.npi,
                             lot_number=ward.vial_lot.lot_number, start=at(10),
                             end=at(50))  # fmt: skip


def searched(resource: dict[str, Any]) -> dict[str, str]:
    """The conditional update's search: ``identifier=system|value``."""
    identifier = resource["identifier"][0]
    return {"identifier": f"{identifier['system']}|{identifier['value']}"}


async def room_balance(ward: Ward) -> str:
    response = await ward.get("/v1/ledger/balances", registrant_id=ward.id,
                              location_id=ward.room.id, lot_id=ward.vial_lot.id)  # fmt: skip
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return str(items[0]["quantity"]) if items else "0"


async def test_a_repeat_is_answered_with_what_was_stored_and_writes_nothing(
    client, stocked_room, ehr, probe
):
    resource = infusion(stocked_room, ehr)
    first = await send(client, "POST", resource, ehr.token)
    assert first.status_code == 201, first.text
    before = await probe.business_rows()

    again = await send(client, "POST", resource | {"id": "ehr-local-id"}, ehr.token)

    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert "location" not in again.headers
    assert await probe.business_rows() == before
    assert await room_balance(stocked_room) == "1.3"


async def test_other_content_under_the_same_identifier_is_refused_pointing_to_put(
    client, stocked_room, ehr, probe
):
    resource = infusion(stocked_room, ehr)
    assert (await send(client, "POST", resource, ehr.token)).status_code == 201
    before = await probe.business_rows()

    changed = await send(client, "POST", resource | {"status": "stopped"}, ehr.token)

    assert changed.status_code == 409, changed.text
    assert changed.headers["content-type"] == "application/fhir+json"
    [issue] = changed.json()["issue"]
    assert issue["code"] == "conflict"
    assert "PUT /v1/fhir/MedicationAdministration?identifier=" in issue["diagnostics"]
    assert await probe.business_rows() == before


async def test_another_sender_may_use_the_same_identifier(
    client, admin_token, token, stocked_room, ehr
):
    resource = infusion(stocked_room, ehr)
    assert (await send(client, "POST", resource, ehr.token)).status_code == 201
    body = {"registrant_id": stocked_room.id, "subject": "ehr-2",
            "location_id": stocked_room.room.id}  # fmt: skip
    created = await client.post("/v1/integrations/fhir-senders", json=body,
                                headers=bearer(admin_token))  # fmt: skip
    assert created.status_code == 201, created.text
    other = token(["integration"], [stocked_room.id], sub="ehr-2")

    response = await send(client, "POST", resource, other)

    assert response.status_code == 201, response.text
    assert await room_balance(stocked_room) == "0.6"


async def test_entered_in_error_reverses_what_the_resource_moved(client, stocked_room, ehr):
    resource = infusion(stocked_room, ehr)
    created = (await send(client, "POST", resource, ehr.token)).json()
    assert await room_balance(stocked_room) == "1.3"
    query = searched(resource)

    response = await send(client, "PUT", resource | {"status": "entered-in-error"}, ehr.token,
                          **query)  # fmt: skip

    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["id"], updated["status"], updated["meta"]["versionId"]) == (
        created["id"], "entered-in-error", "2",
    )  # fmt: skip
    [reversal_id] = [e["valueString"] for e in updated["extension"]
                     if e["url"] == "urn:csledger:fhir:ledger-reversal"]  # fmt: skip
    reversal = await ledger_event(client, reversal_id, stocked_room.officer_token)
    assert reversal["type"] == "reversal"
    assert reversal["reverses_event_id"] == ledger_event_ids(created)[0]
    assert await room_balance(stocked_room) == "2"
    again = await send(client, "PUT", resource | {"status": "completed"}, ehr.token, **query)
    assert again.status_code == 409, again.text
    assert again.json()["issue"][0]["code"] == "business-rule"


async def test_a_status_change_is_stored_and_one_undoing_a_movement_flagged(
    client, stocked_room, ehr, probe
):
    resource = infusion(stocked_room, ehr) | {"status": "in-progress"}
    created = await send(client, "POST", resource, ehr.token)
    assert created.status_code == 201, created.text
    assert ledger_event_ids(created.json()) == []
    query = searched(resource)

    completed = await send(client, "PUT", resource | {"status": "completed"}, ehr.token, **query)

    assert completed.status_code == 200, completed.text
    assert len(ledger_event_ids(completed.json())) == 1
    assert await room_balance(stocked_room) == "1.3"
    on_hold = await send(client, "PUT", resource | {"status": "on-hold"}, ehr.token, **query)
    assert on_hold.status_code == 200, on_hold.text
    assert on_hold.json()["meta"]["versionId"] == "3"
    assert await room_balance(stocked_room) == "1.3"  # the stock stays moved ...
    async with probe.engine.connect() as connection:
        flagged = await connection.scalar(text("SELECT broken_rules FROM fhir_resources"))
    assert "status_withdrawn" in str(flagged)  # ... and a compliance officer decides
    before = await probe.business_rows()
    same = await send(client, "PUT", resource | {"status": "on-hold"}, ehr.token, **query)
    assert same.status_code == 200, same.text
    assert await probe.business_rows() == before


async def test_a_put_changing_more_than_the_status_is_refused(client, stocked_room, ehr):
    resource = infusion(stocked_room, ehr)
    assert (await send(client, "POST", resource, ehr.token)).status_code == 201
    query = searched(resource)
    other = resource | {"status": "stopped", "note": [{"text": "dose changed"}]}

    response = await send(client, "PUT", other, ehr.token, **query)

    assert response.status_code == 409, response.text
    assert await room_balance(stocked_room) == "1.3"


async def test_a_put_of_an_unknown_identifier_creates_it(client, stocked_room, ehr):
    resource = infusion(stocked_room, ehr)
    query = searched(resource)

    response = await send(client, "PUT", resource, ehr.token, **query)

    assert response.status_code == 201, response.text
    assert response.headers["location"].endswith(response.json()["id"])
    assert await room_balance(stocked_room) == "1.3"


async def test_a_put_naming_another_identifier_is_refused(client, stocked_room, ehr, probe):
    resource = infusion(stocked_room, ehr)
    before = await probe.business_rows()

    response = await send(client, "PUT", resource, ehr.token, identifier="urn:x|other")

    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["expression"] == ["MedicationAdministration.identifier"]
    assert await probe.business_rows() == before


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_concurrent_identical_posts_move_stock_once(app, stocked_room, ehr, probe):
    resource = infusion(stocked_room, ehr)

    async def post_alone() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://csledger.test") as c:
            return await send(c, "POST", resource, ehr.token)

    responses = await asyncio.gather(*(post_alone() for _ in range(4)))

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201], [
        r.text for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await room_balance(stocked_room) == "1.3"
    rows = await probe.business_rows()
    administered = [row for row in rows["ledger_events"] if "'administer'" in row]
    assert len(administered) == 1
    assert len(rows["fhir_resources"]) == 1
