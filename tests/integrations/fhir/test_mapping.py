"""Realistic R4 resources become the right ledger events: an IV infusion and an esketamine
dose in their sessions, a troche dispense filling its prescription; records that match no
withdrawal or prescription are stored and flagged."""

import uuid
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.medicationadministration import MedicationAdministration
from sqlalchemy import select

from app.core.outbox import OutboxMessage
from app.integrations.fhir.models import FhirResource
from app.ledger.messages import RULES_BROKEN
from tests.clinical.ward import Ward, at
from tests.conftest import START, bearer
from tests.integrations.fhir.support import (
    Sender,
    esketamine_dose,
    ketamine_infusion,
    ledger_event,
    ledger_event_ids,
    send,
    troche_dispense,
)
from tests.pharmacy.dispensary import Dispensary


def infusion(ward: Ward, ehr: Sender, session_id: str | None = None) -> dict[str, Any]:
    return ketamine_infusion(
        mrn=ward.iv_patient.external_id, npi_value=ehr.npi,
        lot_number=ward.vial_lot.lot_number, start=at(10), end=at(50), session_id=session_id,
    )  # fmt: skip


async def test_a_ketamine_infusion_in_its_session_is_the_sessions_administration(
    client, ward, ehr, probe
):
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    resource = infusion(ward, ehr, session_id=ts["id"])

    response = await send(client, "POST", resource, ehr.token)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    stored = response.json()
    assert response.headers["location"] == f"/v1/fhir/MedicationAdministration/{stored['id']}"
    assert stored["meta"]["lastUpdated"].endswith("Z")
    assert stored["identifier"] == resource["identifier"]
    MedicationAdministration.model_validate(stored)  # still valid R4
    [event_id] = ledger_event_ids(stored)
    event = await ledger_event(client, event_id, ward.officer_token)
    assert (event["type"], event["quantity"], event["mg"]) == ("administer", "0.7", "35")
    assert event["lot_id"] == ward.vial_lot.id
    assert event["patient_id"] == ward.iv_patient.id
    assert event["performed_by"] == ehr.staff["id"]
    assert event["session_id"] == ts["id"]
    assert event["is_record"] is True
    assert event["occurred_at"].startswith(at(10)[:16].replace("+00:00", ""))
    session = await ward.session(ts)
    assert session["status"] == "observing"
    [given] = session["administrations"]
    assert (given["event_id"], given["ended_at"]) == (event_id, session["dosing_ended_at"])
    read = await client.get(response.headers["location"], headers=bearer(ehr.token))
    assert read.status_code == 200, read.text
    assert read.json() == stored


async def test_an_administration_in_a_session_not_under_way_is_stored_and_flagged(
    client, ward, ehr, probe
):
    ts = await ward.open_session("iv")  # scheduled: nothing withdrawn into its holding
    response = await send(client, "POST", infusion(ward, ehr, session_id=ts["id"]), ehr.token)
    assert response.status_code == 201, response.text
    assert ledger_event_ids(response.json()) == []
    async with probe.engine.connect() as connection:
        flagged = await connection.scalar(select(FhirResource.broken_rules))
    assert flagged == ["session_not_under_way"]
    assert (await ward.session(ts))["administrations"] == []


async def test_an_esketamine_56_mg_dose_is_two_devices_given_in_its_session(client, ward, ehr):
    patient = await ward.add_patient(rems_enrollment_id="REMS-P-9001")
    plan = await ward.add_plan(patient, modality="esketamine_nasal", dose_mg="56")
    ts = await ward.open_session("esketamine", patient_id=patient.id, plan_id=plan.id)
    await ward.vitals(ts, "pre_dose", 2)
    await ward.withdraw(ts, "2", lot="device")
    resource = esketamine_dose(
        mrn=patient.external_id, npi_value=ehr.npi,
        lot_number=ward.device_lot.lot_number, start=at(10), end=at(15), session_id=ts["id"],
    )  # fmt: skip

    response = await send(client, "POST", resource, ehr.token)

    assert response.status_code == 201, response.text
    events = [await ledger_event(client, e, ward.officer_token)
              for e in ledger_event_ids(response.json())]  # fmt: skip
    assert [(e["type"], e["quantity"], e["mg"]) for e in events] == [("administer", "1", "28")] * 2
    assert {e["lot_id"] for e in events} == {ward.device_lot.id}
    session = await ward.session(ts)
    assert session["status"] == "observing"
    assert session["monitoring_form"]["dose_mg"] == "56"
    assert [a["broken_rules"] for a in session["administrations"]] == [[], []]


async def test_a_troche_dispense_fills_the_prescription_it_names(
    client, dispensary: Dispensary, pharmacy_system: Sender
):
    rx = await dispensary.receive()
    resource = troche_dispense(
        mrn=dispensary.patient.external_id, npi_value=pharmacy_system.npi,
        compound_code=dispensary.troche.compound_code,
        lot_number="T-2026-001", rx_number=rx["rx_number"],
        handed_over=START.replace(hour=14).isoformat(),
    )  # fmt: skip

    response = await send(client, "POST", resource, pharmacy_system.token)

    assert response.status_code == 201, response.text
    [event_id] = ledger_event_ids(response.json())
    event = await ledger_event(client, event_id, dispensary.token)
    assert (event["type"], event["quantity"], event["mg"]) == ("dispense", "30", "3000")
    assert (event["prescription_id"], event["patient_id"]) == (rx["id"], rx["patient_id"])
    assert event["performed_by"] == pharmacy_system.staff["id"]
    assert event["lot_id"] == dispensary.troche_lot.id
    filled = (await dispensary.get(f"/v1/prescriptions/{rx['id']}")).json()
    [fill] = filled["fills"]
    assert (fill["event_id"], fill["refill_number"], fill["quantity"]) == (event_id, 0, "30")
    assert await dispensary.shelf_balance() == "270"


async def test_a_dispense_naming_no_prescription_is_stored_and_flagged(
    client, dispensary: Dispensary, pharmacy_system: Sender, probe
):
    resource = troche_dispense(
        mrn=dispensary.patient.external_id, npi_value=pharmacy_system.npi,
        compound_code=dispensary.troche.compound_code, lot_number="T-2026-001",
        rx_number="RX-UNKNOWN", handed_over=START.replace(hour=14).isoformat(),
    )  # fmt: skip

    response = await send(client, "POST", resource, pharmacy_system.token)

    assert response.status_code == 201, response.text
    [event_id] = ledger_event_ids(response.json())
    event = await ledger_event(client, event_id, dispensary.token)
    assert (event["type"], event["prescription_id"]) == ("dispense", None)
    assert event["document_reference"] == "RX-UNKNOWN"
    assert await flagged(probe, response.json()["id"]) == ["no_matching_prescription"]


async def test_an_administration_outside_a_session_is_flagged_without_a_withdrawal(
    client, ward, ehr, probe
):
    move = {"registrant_id": ward.id, "type": "move", "location_id": ward.vault.id,
            "to_location_id": ward.room.id, "lot_id": ward.vial_lot.id, "quantity": "2",
            "occurred_at": at(-30 * 60)}  # fmt: skip  # stock moved the day before
    moved = await ward.post("/v1/ledger/events", move)
    assert moved.status_code == 201, moved.text
    stale = await send(client, "POST", infusion(ward, ehr), ehr.token)
    assert stale.status_code == 201, stale.text
    assert await flagged(probe, stale.json()["id"]) == ["no_matching_withdrawal"]
    moved = await ward.post("/v1/ledger/events", move | {"occurred_at": at(0)})
    assert moved.status_code == 201, moved.text

    matched = await send(client, "POST", infusion(ward, ehr), ehr.token)

    assert matched.status_code == 201, matched.text
    assert await flagged(probe, matched.json()["id"]) == []
    [event_id] = ledger_event_ids(matched.json())
    event = await ledger_event(client, event_id, ward.officer_token)
    assert (event["type"], event["location_id"], event["session_id"]) == (
        "administer", ward.room.id, None,
    )  # fmt: skip
    assert Decimal(event["quantity"]) == Decimal("0.7")


async def flagged(probe, resource_id: str) -> list[str]:
    """The rules the stored resource broke, each announced to reconciliation."""
    async with probe.engine.connect() as connection:
        row = (await connection.execute(
            select(FhirResource.broken_rules).where(FhirResource.id == uuid.UUID(resource_id))
        )).one()  # fmt: skip
        messages = (await connection.execute(
            select(OutboxMessage.payload).where(OutboxMessage.topic == RULES_BROKEN)
        )).scalars().all()  # fmt: skip
    announced = [m["rules"] for m in messages if m["subject_id"] == resource_id]
    assert announced == ([row.broken_rules] if row.broken_rules else [])
    return list(row.broken_rules)
