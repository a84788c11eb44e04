"""A record is never lost for want of a detail: a resource with only its `id` is identified by
its sender and that id; a lot the resource does not name is the only lot on hand, or the
record is kept unposted until a compliance officer assigns one; a medication code of the
sender's own system is kept unposted until an officer maps it. Each then posts through the
ledger at its original time, and its discrepancy is cured."""

import asyncio
from typing import Any

import httpx
import pytest

from app.integrations.fhir.mapping import RESOURCE_ID_SYSTEM
from tests.clinical.ward import Ward, at
from tests.conftest import START, bearer
from tests.factories import create, create_registrant
from tests.integrations.fhir.support import (
    Sender,
    ketamine_infusion,
    ledger_event,
    ledger_event_ids,
    send,
    troche_dispense,
)
from tests.pharmacy.dispensary import Dispensary
from tests.world import Lot

RECORDS = "/v1/integrations/fhir-records"
FORMULARY = "http://ehr.example.org/formulary"
UNPOSTED = "urn:csledger:fhir:unposted"
LOT_TOLD = "urn:csledger:fhir:lot-told"


def without_lot(ward: Ward, ehr: Sender, **changes: Any) -> dict[str, Any]:
    """An infusion charted from the EHR's formulary: a Medication without a batch."""
    resource = ketamine_infusion(mrn=ward.iv_patient.external_id, npi_value=ehr.npi,
                                 lot_number="unused", start=at(10), end=at(50))  # fmt: skip
    del resource["contained"][0]["batch"]
    return resource | changes


def extension(resource: dict[str, Any], url: str) -> str | None:
    found = [e["valueString"] for e in resource.get("extension", []) if e["url"] == url]
    assert len(found) <= 1
    return found[0] if found else None


async def move_to_room(ward: Ward, lot: Lot, quantity: str = "2") -> None:
    move = {"registrant_id": ward.id, "type": "move", "location_id": ward.vault.id,
            "to_location_id": ward.room.id, "lot_id": lot.id, "quantity": quantity,
            "occurred_at": at(0)}  # fmt: skip
    moved = await ward.post("/v1/ledger/events", move)
    assert moved.status_code == 201, moved.text


async def second_vial_lot(ward: Ward) -> Lot:
    """Another lot of the injection, received into the vault."""
    product_id = ward.vial_lot.product_id
    lot = Lot.of(await create(ward.client, f"/v1/products/{product_id}/lots",
                              {"lot_number": "L-SECOND", "expires_on": "2027-03-31"},
                              ward.nurse_token))  # fmt: skip
    receipt = {"registrant_id": ward.id, "type": "receipt", "location_id": ward.vault.id,
               "lot_id": lot.id, "quantity": "10", "occurred_at": at(-50),
               "counterparty": {"name": "Midwest Pharma Distribution",
                                "address": {"line1": "1 Depot Rd", "city": "Dallas",
                                            "state": "TX", "postal_code": "78701"},
                                "dea_number": "PK1234563"},
               "document_reference": "INV-2"}  # fmt: skip
    received = await ward.post("/v1/ledger/events", receipt)
    assert received.status_code == 201, received.text
    return lot


async def record(client: httpx.AsyncClient, token: str, resource_id: str) -> dict[str, Any]:
    response = await client.get(f"{RECORDS}/{resource_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def discrepancy_of(client: httpx.AsyncClient, token: str, registrant_id: str,
                         resource_id: str) -> dict[str, Any]:  # fmt: skip
    response = await client.get("/v1/discrepancies", headers=bearer(token), params={
        "registrant_id": registrant_id, "rule": "fhir_record_unposted"})  # fmt: skip
    assert response.status_code == 200, response.text
    [found] = [d for d in response.json()["items"]
               if d["details"]["fhir_resource_id"] == resource_id]  # fmt: skip
    detail = await client.get(f"/v1/discrepancies/{found['id']}", headers=bearer(token))
    assert detail.status_code == 200, detail.text
    result: dict[str, Any] = detail.json()
    return result


async def assign(client: httpx.AsyncClient, token: str, resource_id: str, lot_id: str,
                 key: str = "assign-1", **body: str) -> httpx.Response:  # fmt: skip
    headers = bearer(token) | {"Idempotency-Key": key}
    return await client.post(f"{RECORDS}/{resource_id}/lot", json={"lot_id": lot_id, **body},
                             headers=headers)  # fmt: skip


# A resource with only its id


@pytest.mark.parametrize("kind", ["administration", "dispense"])
async def test_a_resource_with_only_its_id_is_stored_under_its_sender_and_id(
    client, ward, ehr, dispensary, pharmacy_system, kind
):
    if kind == "administration":
        await move_to_room(ward, ward.vial_lot)
        resource, sender = without_lot(ward, ehr), ehr
        resource["contained"][0]["batch"] = {"lotNumber": ward.vial_lot.lot_number}
    else:
        resource = troche_dispense(
            mrn=dispensary.patient.external_id, npi_value=pharmacy_system.npi,
            compound_code=dispensary.troche.compound_code, lot_number="T-2026-001",
            rx_number="RX-NONE", handed_over=START.replace(hour=14).isoformat(),
        )  # fmt: skip
        sender = pharmacy_system
    del resource["identifier"]
    resource["id"] = "ehr-7731"

    first = await send(client, "POST", resource, sender.token)
    again = await send(client, "POST", resource, sender.token)

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert len(ledger_event_ids(first.json())) == 1
    withdrawn = resource | {"status": "entered-in-error"}
    put = await send(client, "PUT", withdrawn, sender.token,
                     identifier=f"{RESOURCE_ID_SYSTEM}|ehr-7731")  # fmt: skip
    assert put.status_code == 200, put.text
    assert extension(put.json(), "urn:csledger:fhir:ledger-reversal") is not None


async def test_another_id_is_another_resource_and_no_id_nor_identifier_is_refused(
    client, ward, ehr, probe
):
    await move_to_room(ward, ward.vial_lot)
    resource = without_lot(ward, ehr)
    del resource["identifier"]
    first = await send(client, "POST", resource | {"id": "a-1"}, ehr.token)
    second = await send(client, "POST", resource | {"id": "a-2"}, ehr.token)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]

    before = await probe.business_rows()
    refused = await send(client, "POST", resource, ehr.token)

    assert refused.status_code == 422, refused.text
    assert refused.json()["issue"][0]["expression"] == ["MedicationAdministration.identifier"]
    assert await probe.business_rows() == before


# A lot the resource does not name


async def test_the_only_lot_on_hand_is_taken_and_the_answer_says_so(client, ward, ehr):
    await move_to_room(ward, ward.vial_lot)

    response = await send(client, "POST", without_lot(ward, ehr), ehr.token)

    assert response.status_code == 201, response.text
    stored = response.json()
    told = extension(stored, LOT_TOLD)
    assert told is not None
    assert told.startswith(f"lot {ward.vial_lot.lot_number}: the only")
    assert extension(stored, UNPOSTED) is None
    [event_id] = ledger_event_ids(stored)
    event = await ledger_event(client, event_id, ward.officer_token)
    assert (event["lot_id"], event["quantity"]) == (ward.vial_lot.id, "0.7")
    followed = await record(client, ward.officer_token, stored["id"])
    assert (followed["lot_id"], followed["lot_source"]) == (ward.vial_lot.id, "stock_on_hand")
    assert followed["unposted_because"] is None


async def test_a_record_whose_lot_cannot_be_told_is_kept_until_an_officer_assigns_it(
    client, ward, ehr, probe
):
    second = await second_vial_lot(ward)
    await move_to_room(ward, ward.vial_lot)
    await move_to_room(ward, second)

    response = await send(client, "POST", without_lot(ward, ehr), ehr.token)

    assert response.status_code == 201, response.text
    stored = response.json()
    assert ledger_event_ids(stored) == []
    kept = extension(stored, UNPOSTED)
    assert kept is not None
    assert kept.startswith("lot_not_determined:")
    assert "L-SECOND" in kept
    assert ward.vial_lot.lot_number in kept
    listed = await client.get(RECORDS, headers=bearer(ward.officer_token),
                              params={"registrant_id": ward.id, "unposted": "true"})  # fmt: skip
    assert [r["id"] for r in listed.json()["items"]] == [stored["id"]]
    opened = await discrepancy_of(client, ward.officer_token, ward.id, stored["id"])
    assert (opened["status"], opened["severity"]) == ("open", "significant")
    assert opened["summary"].startswith("A FHIR MedicationAdministration from ")
    assert f") is kept unposted: {kept.split(':', 1)[1].strip()}" in opened["summary"]
    assert await room_balance(ward, second) == "2"

    assigned = await assign(client, ward.officer_token, stored["id"], second.id,
                            note="Lot read from the vial in the sharps log.")  # fmt: skip

    assert assigned.status_code == 200, assigned.text
    posted = assigned.json()
    assert (posted["lot_id"], posted["lot_source"]) == (second.id, "officer")
    assert posted["unposted_because"] is None
    [event_id] = posted["event_ids"]
    event = await ledger_event(client, event_id, ward.officer_token)
    assert event["occurred_at"].startswith(at(10)[:16])  # its original time
    assert (event["type"], event["lot_id"], event["is_record"]) == ("administer", second.id,
                                                                    True)  # fmt: skip
    assert event["performed_by"] == ehr.staff["id"]
    assert await room_balance(ward, second) == "1.3"
    cured = await discrepancy_of(client, ward.officer_token, ward.id, stored["id"])
    assert cured["status"] == "cured"
    last = cured["transitions"][-1]
    assert "posted to lot L-SECOND" in last["note"]
    assert "officer-1" in last["note"]
    assert "sharps log" in last["note"]
    read = await client.get(f"/v1/fhir/MedicationAdministration/{stored['id']}",
                            headers=bearer(ehr.token))  # fmt: skip
    assert ledger_event_ids(read.json()) == [event_id]
    assert extension(read.json(), UNPOSTED) is None
    assert "assigned by a compliance officer" in (extension(read.json(), LOT_TOLD) or "")


async def test_a_lot_the_product_does_not_have_is_kept_too(client, ward, ehr):
    await move_to_room(ward, ward.vial_lot)
    resource = without_lot(ward, ehr)
    resource["contained"][0]["batch"] = {"lotNumber": "NO-SUCH-LOT"}

    response = await send(client, "POST", resource, ehr.token)

    assert response.status_code == 201, response.text
    assert ledger_event_ids(response.json()) == []
    assert "has no lot NO-SUCH-LOT" in (extension(response.json(), UNPOSTED) or "")


async def test_an_assignment_is_refused_where_it_would_be_wrong(
    client, token, admin_token, ward, ehr, probe
):
    second = await second_vial_lot(ward)
    await move_to_room(ward, ward.vial_lot)
    await move_to_room(ward, second)
    kept = (await send(client, "POST", without_lot(ward, ehr), ehr.token)).json()
    before = await probe.business_rows()

    spray = await assign(client, ward.officer_token, kept["id"], ward.device_lot.id, "k-1")
    nurse = await assign(client, ward.nurse_token, kept["id"], second.id, "k-2")
    integration = await assign(client, ehr.token, kept["id"], second.id, "k-3")
    elsewhere = (await create_registrant(client, admin_token))["id"]
    stranger = await assign(client, token(["compliance_officer"], [elsewhere], sub="officer-9"),
                            kept["id"], second.id, "k-4")  # fmt: skip
    posted = await assign(client, ward.officer_token, kept["id"], second.id, "k-5")

    assert spray.status_code == 422, spray.text
    assert spray.json()["errors"][0]["pointer"] == "#/lot_id"
    assert (nurse.status_code, integration.status_code) == (403, 403)
    assert stranger.status_code == 404, stranger.text
    assert posted.status_code == 200  # the right lot, by an officer of the registrant: it posts
    after = await assign(client, ward.officer_token, kept["id"], second.id, "k-6")
    assert after.status_code == 409
    assert after.json()["type"].endswith(":fhir-record-not-unposted")
    assert len((await probe.business_rows())["ledger_events"]) == len(before["ledger_events"]) + 1


async def test_the_sender_withdrawing_a_kept_record_cures_its_discrepancy(client, ward, ehr):
    second = await second_vial_lot(ward)
    await move_to_room(ward, ward.vial_lot)
    await move_to_room(ward, second)
    resource = without_lot(ward, ehr)
    kept = (await send(client, "POST", resource, ehr.token)).json()
    search = {"identifier": "{system}|{value}".format(**resource["identifier"][0])}

    put = await send(client, "PUT", resource | {"status": "entered-in-error"}, ehr.token,
                     **search)  # fmt: skip

    assert put.status_code == 200, put.text
    assert extension(put.json(), UNPOSTED) is None
    cured = await discrepancy_of(client, ward.officer_token, ward.id, kept["id"])
    assert cured["status"] == "cured"
    assert "entered-in-error" in cured["transitions"][-1]["note"]
    refused = await assign(client, ward.officer_token, kept["id"], second.id)
    assert refused.status_code == 409


async def test_in_a_session_the_lot_withdrawn_into_its_holding_is_taken(client, ward, ehr):
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    resource = without_lot(ward, ehr)
    resource["context"] = {"identifier": {"system": "urn:csledger:session", "value": ts["id"]}}

    response = await send(client, "POST", resource, ehr.token)

    assert response.status_code == 201, response.text
    [event_id] = ledger_event_ids(response.json())
    event = await ledger_event(client, event_id, ward.officer_token)
    assert (event["session_id"], event["lot_id"]) == (ts["id"], ward.vial_lot.id)


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_two_officers_assigning_at_once_post_it_once(app, client, token, ward, ehr, probe):
    second = await second_vial_lot(ward)
    await move_to_room(ward, ward.vial_lot)
    await move_to_room(ward, second)
    kept = (await send(client, "POST", without_lot(ward, ehr), ehr.token)).json()
    officers = [token(["compliance_officer"], [ward.id], sub=f"officer-{n}") for n in (2, 3)]

    async def alone(officer: str, lot: Lot) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://csledger.test") as c:
            return await assign(c, officer, kept["id"], lot.id, key=officer[-12:])

    answers = await asyncio.gather(alone(officers[0], second), alone(officers[1], ward.vial_lot))

    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    followed = await record(client, ward.officer_token, kept["id"])
    assert len(followed["event_ids"]) == 1
    administered = [r for r in (await probe.business_rows())["ledger_events"]
                    if "'administer'" in r]  # fmt: skip
    assert len(administered) == 1


# A code of the sender's own system


def formulary_dispense(dispensary: Dispensary, sender: Sender, rx_number: str) -> dict[str, Any]:
    resource = troche_dispense(
        mrn=dispensary.patient.external_id, npi_value=sender.npi, compound_code="unused",
        lot_number="T-2026-001", rx_number=rx_number,
        handed_over=START.replace(hour=14).isoformat(),
    )  # fmt: skip
    resource["contained"][0]["code"]["coding"] = [
        {"system": FORMULARY, "code": "KET-TROCHE-100", "display": "Ketamine 100 mg troche"}
    ]
    return resource


async def map_code(client: httpx.AsyncClient, officer: str, sender: Sender, product_id: str,
                   key: str = "map-1") -> httpx.Response:  # fmt: skip
    body = {"system": FORMULARY, "code": "KET-TROCHE-100", "product_id": product_id}
    return await client.post(
        f"/v1/integrations/fhir-senders/{sender.sender['id']}/code-mappings", json=body,
        headers=bearer(officer) | {"Idempotency-Key": key},
    )  # fmt: skip


async def test_a_code_of_the_senders_own_system_posts_once_an_officer_maps_it(
    client, token, dispensary: Dispensary, pharmacy_system: Sender
):
    officer = token(["compliance_officer"], [dispensary.id], sub="officer-rx")
    rx = await dispensary.receive()
    resource = formulary_dispense(dispensary, pharmacy_system, rx["rx_number"])

    response = await send(client, "POST", resource, pharmacy_system.token)

    assert response.status_code == 201, response.text
    kept = response.json()
    assert ledger_event_ids(kept) == []
    assert (extension(kept, UNPOSTED) or "").startswith("product_not_mapped:")
    assert await dispensary.shelf_balance() == "300"
    followed = await record(client, officer, kept["id"])
    assert followed["medication_codes"] == [f"{FORMULARY}|KET-TROCHE-100"]
    lot_first = await assign(client, officer, kept["id"], dispensary.troche_lot.id)
    assert lot_first.status_code == 409  # its product first

    mapped = await map_code(client, officer, pharmacy_system, dispensary.troche.id)

    assert mapped.status_code == 201, mapped.text
    answer = mapped.json()
    [posted] = answer["records"]
    assert (posted["id"], posted["unposted_because"]) == (kept["id"], None)
    assert (posted["product_id"], posted["lot_source"]) == (dispensary.troche.id, "resource")
    [event_id] = posted["event_ids"]
    event = await ledger_event(client, event_id, dispensary.token)
    assert event["type"] == "dispense"
    assert (event["prescription_id"], event["quantity"]) == (rx["id"], "30")
    assert event["occurred_at"].startswith(START.replace(hour=14).isoformat()[:16])
    assert await dispensary.shelf_balance() == "270"
    cured = await discrepancy_of(client, officer, dispensary.id, kept["id"])
    assert cured["status"] == "cured"
    assert "KET-TROCHE-100 mapped" in cured["transitions"][-1]["note"]
    location = mapped.headers["location"]
    assert (await client.get(location, headers=bearer(officer))).json()["id"] == answer["id"]

    again = await map_code(client, officer, pharmacy_system, dispensary.troche.id, "map-2")
    assert again.status_code == 200, again.text
    assert (again.json()["id"], again.json()["records"]) == (answer["id"], [])
    products = await client.get("/v1/products", headers=bearer(dispensary.token),
                                params={"registrant_id": dispensary.id})  # fmt: skip
    [api] = [p for p in products.json()["items"] if p["id"] != dispensary.troche.id]
    remapped = await map_code(client, officer, pharmacy_system, api["id"], "map-3")
    assert remapped.status_code == 409
    assert remapped.json()["type"].endswith(":fhir-code-mapped")

    later = formulary_dispense(dispensary, pharmacy_system, "RX-NONE")
    straight = await send(client, "POST", later, pharmacy_system.token)
    assert straight.status_code == 201, straight.text
    assert len(ledger_event_ids(straight.json())) == 1


async def test_only_a_compliance_officer_maps_a_code_and_only_to_its_registrants_product(
    client, token, ward, dispensary: Dispensary, pharmacy_system: Sender, probe
):
    before = await probe.business_rows()
    pharmacist = await map_code(client, dispensary.token, pharmacy_system, dispensary.troche.id)
    officer = token(["compliance_officer"], [dispensary.id], sub="officer-rx")
    foreign = await map_code(client, officer, pharmacy_system, ward.vial_lot.product_id, "m-2")
    clinic_officer = await map_code(client, ward.officer_token, pharmacy_system,
                                    dispensary.troche.id, "m-3")  # fmt: skip

    assert pharmacist.status_code == 403, pharmacist.text
    assert foreign.status_code == 422, foreign.text
    assert foreign.json()["errors"][0]["pointer"] == "#/product_id"
    assert clinic_officer.status_code == 404, clinic_officer.text
    assert await probe.business_rows() == before


async def room_balance(ward: Ward, lot: Lot) -> str:
    response = await ward.get("/v1/ledger/balances", registrant_id=ward.id,
                              location_id=ward.room.id, lot_id=lot.id)  # fmt: skip
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return str(items[0]["quantity"]) if items else "0"


async def test_an_ndc_the_registrant_has_no_product_of_is_kept_for_a_mapping(client, ward, ehr):
    await move_to_room(ward, ward.vial_lot)
    resource = without_lot(ward, ehr)
    resource["contained"][0]["code"]["coding"][0]["code"] = "0409-9999-05"

    response = await send(client, "POST", resource, ehr.token)

    assert response.status_code == 201, response.text
    assert ledger_event_ids(response.json()) == []
    kept = extension(response.json(), UNPOSTED) or ""
    assert kept.startswith("product_not_mapped: no product here has the code")
    assert "http://hl7.org/fhir/sid/ndc|0409-9999-05" in kept
