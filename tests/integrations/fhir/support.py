"""Realistic R4 resources and the setup that receives them: a clinic (the ward) and a
compounding pharmacy (the dispensary), each with an EHR enabled as a FHIR sender and a member
of staff identified by an NPI of their own."""

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from app.core.identifiers import NPI_PREFIX, luhn_valid
from app.integrations.fhir.mapping import (
    COMPOUND_CODE_SYSTEM,
    NDC_SYSTEM,
    NPI_SYSTEM,
    SESSION_SYSTEM,
)
from tests.conftest import TokenFactory, bearer
from tests.factories import create, staff_body

FHIR_JSON = "application/fhir+json"
MRN_SYSTEM = "http://hospital.example.org/mrn"
ORDER_SYSTEM = "http://ehr.example.org/medication-administration"
_serial = itertools.count(100000001)


def npi() -> str:
    """A fresh NPI with a valid check digit."""
    digits = str(next(_serial))
    check = next(d for d in "0123456789" if luhn_valid(NPI_PREFIX + digits + d))
    return digits + check


READ_BACK = ("send_administrations", "send_dispenses", "read_own_records")
"""A sender that sends both resource types and reads them back."""


@dataclass
class Sender:
    """An integration enabled at a registrant: its token and the staff member it names."""

    registrant_id: str
    token: str
    staff: dict[str, Any]
    sender: dict[str, Any]

    @property
    def npi(self) -> str:
        return str(self.staff["npi"])


async def enable_sender(
    client: httpx.AsyncClient,
    admin_token: str,
    token: TokenFactory,
    registrant_id: str,
    location_id: str,
    *,
    role: str,
    subject: str = "ehr-1",
    scopes: tuple[str, ...] = READ_BACK,
) -> Sender:
    staff = await create(client, f"/v1/registrants/{registrant_id}/staff",
                         staff_body(role=role, subject=None, name="Fiona Field", npi=npi()),
                         admin_token)  # fmt: skip
    body = {"registrant_id": registrant_id, "subject": subject, "location_id": location_id,
            "scopes": list(scopes)}  # fmt: skip
    sender = await create(client, "/v1/integrations/fhir-senders", body, admin_token)
    integration = token(["integration"], [registrant_id], sub=subject, name="Hospital EHR")
    return Sender(registrant_id, integration, staff, sender)


async def send(
    client: httpx.AsyncClient,
    method: str,
    resource: dict[str, Any],
    token_value: str,
    *,
    content_type: str = FHIR_JSON,
    **params: str,
) -> httpx.Response:
    path = f"/v1/fhir/{resource['resourceType']}"
    headers = bearer(token_value) | {"Content-Type": content_type}
    return await client.request(method, path, content=orjson.dumps(resource), headers=headers,
                                params=params)  # fmt: skip


def identifier(system: str = ORDER_SYSTEM) -> dict[str, str]:
    return {"system": system, "value": f"MA-{uuid.uuid4().hex[:10]}"}


def contained_medication(coding: dict[str, str], lot_number: str) -> dict[str, Any]:
    return {"resourceType": "Medication", "id": "med", "code": {"coding": [coding]},
            "batch": {"lotNumber": lot_number, "expirationDate": "2027-01-31"}}  # fmt: skip


def ketamine_infusion(
    *, mrn: str, npi_value: str, lot_number: str, start: str, end: str,
    session_id: str | None = None, dose_mg: float = 35,
) -> dict[str, Any]:  # fmt: skip
    """An IV ketamine infusion over 40 minutes (0.5 mg/kg of 70 kg), as an EHR charts it."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "identifier": [identifier()],
        "status": "completed",
        "contained": [contained_medication(
            {"system": NDC_SYSTEM, "code": "0409-2051-05",
             "display": "Ketamine HCl injection 50 mg/mL"}, lot_number)],
        "medicationReference": {"reference": "#med"},
        "subject": {"identifier": {"system": MRN_SYSTEM, "value": mrn}},
        "effectivePeriod": {"start": start, "end": end},
        "performer": [{"actor": {"identifier": {"system": NPI_SYSTEM, "value": npi_value},
                                 "display": "Fiona Field, RN"}}],
        "dosage": {
            "text": "0.5 mg/kg IV over 40 minutes",
            "route": {"coding": [{"system": "http://snomed.info/sct", "code": "47625008",
                                  "display": "Intravenous route"}]},
            "dose": {"value": dose_mg, "unit": "mg", "system": "http://unitsofmeasure.org",
                     "code": "mg"},
            "rateQuantity": {"value": 52.5, "unit": "mg/h",
                             "system": "http://unitsofmeasure.org", "code": "mg/h"},
        },
    }  # fmt: skip
    if session_id is not None:
        resource["context"] = {"identifier": {"system": SESSION_SYSTEM, "value": session_id}}
    return resource


def esketamine_dose(
    *, mrn: str, npi_value: str, lot_number: str, start: str, end: str, session_id: str
) -> dict[str, Any]:
    """Spravato 56 mg (two 28 mg devices, five minutes apart) in a certified clinic."""
    return {
        "resourceType": "MedicationAdministration",
        "identifier": [identifier()],
        "status": "completed",
        "contained": [contained_medication(
            {"system": NDC_SYSTEM, "code": "50458-028-02",
             "display": "Spravato 56 mg dose kit"}, lot_number)],
        "medicationReference": {"reference": "#med"},
        "subject": {"identifier": {"system": MRN_SYSTEM, "value": mrn}},
        "context": {"identifier": {"system": SESSION_SYSTEM, "value": session_id}},
        "effectivePeriod": {"start": start, "end": end},
        "performer": [{"actor": {"identifier": {"system": NPI_SYSTEM, "value": npi_value}}}],
        "dosage": {
            "route": {"coding": [{"system": "http://snomed.info/sct", "code": "46713006",
                                  "display": "Nasal route"}]},
            "dose": {"value": 56, "unit": "mg", "system": "http://unitsofmeasure.org",
                     "code": "mg"},
        },
    }  # fmt: skip


def troche_dispense(
    *, mrn: str, npi_value: str, compound_code: str, lot_number: str, rx_number: str,
    handed_over: str,
) -> dict[str, Any]:  # fmt: skip
    """Thirty 100 mg ketamine troches for 30 days, handed to the patient."""
    return {
        "resourceType": "MedicationDispense",
        "identifier": [{"system": "http://pharmacy.example.org/dispense", "value":
                        f"D-{uuid.uuid4().hex[:10]}"}],
        "status": "completed",
        "contained": [contained_medication(
            {"system": COMPOUND_CODE_SYSTEM, "code": compound_code,
             "display": "Ketamine 100 mg sublingual troche"}, lot_number)],
        "medicationReference": {"reference": "#med"},
        "subject": {"identifier": {"system": MRN_SYSTEM, "value": mrn}},
        "performer": [{"actor": {"identifier": {"system": NPI_SYSTEM, "value": npi_value}}}],
        "authorizingPrescription": [{"identifier": {"system": "http://pharmacy.example.org/rx",
                                                    "value": rx_number}}],
        "quantity": {"value": 30, "unit": "troche", "system": "http://unitsofmeasure.org",
                     "code": "{troche}"},
        "daysSupply": {"value": 30, "unit": "day", "system": "http://unitsofmeasure.org",
                       "code": "d"},
        "whenHandedOver": handed_over,
        "dosageInstruction": [{"text": "Dissolve one troche under the tongue before sessions"}],
    }  # fmt: skip


def ledger_event_ids(resource: dict[str, Any]) -> list[str]:
    return [e["valueString"] for e in resource.get("extension", [])
            if e["url"] == "urn:csledger:fhir:ledger-event"]  # fmt: skip


async def ledger_event(
    client: httpx.AsyncClient, event_id: str, token_value: str
) -> dict[str, Any]:
    response = await client.get(f"/v1/ledger/events/{event_id}", headers=bearer(token_value))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found
