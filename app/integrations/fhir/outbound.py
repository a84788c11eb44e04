"""A ledger event as an R4 resource, for outbound webhooks: a MedicationAdministration for an
administer event, a MedicationDispense for a dispense. Built from the event's snapshot (the
facts as of the event, as its hash covers them) and validated by building the R4B model.
Without patient data the subject is only a reference and the patient's identifier."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clinical.sessions.models import SessionAdministration
from app.core.identifiers import format_ndc
from app.core.quantity import format_quantity
from app.integrations.fhir.mapping import (
    COMPOUND_CODE_SYSTEM,
    LEDGER_EVENT_SYSTEM,
    NDC_SYSTEM,
    NPI_SYSTEM,
    PATIENT_SYSTEM,
    RX_NUMBER_SYSTEM,
    SESSION_SYSTEM,
    UCUM_SYSTEM,
)
from app.integrations.fhir.parsing import ADMINISTRATION, DISPENSE, MODELS
from app.ledger.models import LedgerEvent
from app.ledger.types import EventType
from app.pharmacy.prescriptions.models import Prescription
from app.registry.models import Patient

_MEDICATION_ID = "medication"
_PATIENT_ID = "patient"


async def resource_of_event(
    session: AsyncSession, event_id: uuid.UUID, *, include_patient_data: bool
) -> dict[str, Any] | None:
    """The event as R4 JSON, or None for an event of another type (or none at all)."""
    event = await session.get(LedgerEvent, event_id)
    if event is None or event.type not in (EventType.administer, EventType.dispense):
        return None
    reversed_ = await session.scalar(
        select(LedgerEvent.id).where(LedgerEvent.reverses_event_id == event.id).limit(1)
    )
    common = {
        "identifier": [{"system": LEDGER_EVENT_SYSTEM, "value": str(event.id)}],
        "status": "entered-in-error" if reversed_ else "completed",
        "medicationReference": {"reference": f"#{_MEDICATION_ID}"},
        **await _subject(session, event, include_patient_data),
        "performer": _performers(event.snapshot.get("performer")),
    }
    if event.type == EventType.administer:
        resource = {"resourceType": ADMINISTRATION, **common,
                    **await _administration(session, event)}  # fmt: skip
    else:
        resource = {"resourceType": DISPENSE, **common, **await _dispense(session, event)}
    resource["contained"] = [_medication(event.snapshot), *resource.get("contained", [])]
    model = MODELS[resource["resourceType"]].model_validate(resource)
    built: dict[str, Any] = orjson.loads(model.model_dump_json())
    return built


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _decimal(value: Decimal) -> Decimal:
    return Decimal(format_quantity(value))


def _medication(snapshot: dict[str, Any]) -> dict[str, Any]:
    product, lot = snapshot["product"], snapshot["lot"]
    if product.get("ndc"):
        coding = {"system": NDC_SYSTEM, "code": format_ndc(product["ndc"])}
    else:
        coding = {"system": COMPOUND_CODE_SYSTEM, "code": product["compound_code"]}
    return {
        "resourceType": "Medication", "id": _MEDICATION_ID,
        "code": {"coding": [coding | {"display": product["name"]}], "text": product["name"]},
        "batch": {"lotNumber": lot["lot_number"], "expirationDate": lot["expires_on"]},
    }  # fmt: skip


def _performers(performer: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not performer:
        return []
    actor: dict[str, Any] = {"display": performer["name"]}
    if performer.get("npi"):
        actor["identifier"] = {"system": NPI_SYSTEM, "value": performer["npi"]}
    return [{"actor": actor}]


async def _subject(
    session: AsyncSession, event: LedgerEvent, include_patient_data: bool
) -> dict[str, Any]:
    """``subject`` (and, with patient data, the patient contained as of the event)."""
    patient = await session.get(Patient, event.patient_id) if event.patient_id else None
    if patient is None:
        return {"subject": {"display": "no patient recorded"}}
    identifier = {"system": PATIENT_SYSTEM, "value": patient.external_id}
    if not include_patient_data:
        return {"subject": {"reference": f"Patient/{patient.id}", "identifier": identifier}}
    as_of = event.snapshot["patient"]
    contained = {
        "resourceType": "Patient", "id": _PATIENT_ID, "identifier": [identifier],
        "name": [{"text": as_of["name"], "family": patient.family_name,
                  "given": [patient.given_name]}],
        "gender": patient.sex, "birthDate": as_of["date_of_birth"],
        "address": [_address(as_of["address"])],
    }  # fmt: skip
    subject = {"reference": f"#{_PATIENT_ID}", "identifier": identifier, "display": as_of["name"]}
    return {"subject": subject, "contained": [contained]}


def _address(address: dict[str, Any]) -> dict[str, Any]:
    lines = [line for line in (address.get("line1"), address.get("line2")) if line]
    return {"line": lines, "city": address.get("city"), "state": address.get("state"),
            "postalCode": address.get("postal_code"), "country": "US"}  # fmt: skip


async def _administration(session: AsyncSession, event: LedgerEvent) -> dict[str, Any]:
    given = await session.scalar(
        select(SessionAdministration).where(SessionAdministration.event_id == event.id)
    )
    found: dict[str, Any] = {
        "dosage": {"dose": {"value": _decimal(event.mg), "unit": "mg", "system": UCUM_SYSTEM,
                            "code": "mg"}},
    }  # fmt: skip
    if given is not None and given.ended_at is not None:
        found["effectivePeriod"] = {"start": _instant(given.started_at),
                                    "end": _instant(given.ended_at)}  # fmt: skip
    else:
        found["effectiveDateTime"] = _instant(event.occurred_at)
    if event.session_id is not None:
        found["context"] = {
            "identifier": {"system": SESSION_SYSTEM, "value": str(event.session_id)}
        }
    return found


async def _dispense(session: AsyncSession, event: LedgerEvent) -> dict[str, Any]:
    product = event.snapshot["product"]
    found: dict[str, Any] = {
        "quantity": {"value": _decimal(event.quantity), "unit": product["inventory_unit"]},
        "whenHandedOver": _instant(event.occurred_at),
    }
    rx = await session.get(Prescription, event.prescription_id) if event.prescription_id else None
    if rx is not None:
        found["authorizingPrescription"] = [
            {"identifier": {"system": RX_NUMBER_SYSTEM, "value": rx.rx_number}}
        ]
        found["daysSupply"] = {"value": rx.days_supply, "unit": "d", "system": UCUM_SYSTEM,
                               "code": "d"}  # fmt: skip
    return found
