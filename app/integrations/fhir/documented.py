"""The R4 resources /v1/fhir/ takes, as the OpenAPI document shows them.

The service reads these bodies itself (:mod:`app.integrations.fhir.parsing`, against the R4
models of ``fhir.resources``), so no model of ours declares them: each is a component of its
own, with the elements the mapping reads (README, "Mapping") and an example an EHR would send.
"""

from typing import Any

from app.integrations.fhir.parsing import ADMINISTRATION, DISPENSE

_UCUM = "http://unitsofmeasure.org"
_NPI = {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}
_MRN = {"system": "http://clinic.example.org/mrn", "value": "MRN-0042"}


def _medication(coding: dict[str, str], lot_number: str) -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": "med",
        "code": {"coding": [coding]},
        "batch": {"lotNumber": lot_number, "expirationDate": "2027-06-30"},
    }


ADMINISTRATION_EXAMPLE: dict[str, Any] = {
    "resourceType": ADMINISTRATION,
    "identifier": [{"system": "http://ehr.example.org/medication-administration",
                    "value": "MA-20260302-0007"}],
    "status": "completed",
    "contained": [_medication({"system": "http://hl7.org/fhir/sid/ndc", "code": "0409-2051-05",
                               "display": "Ketamine HCl injection 50 mg/mL"}, "KX2291")],
    "medicationReference": {"reference": "#med"},
    "subject": {"identifier": _MRN},
    "effectivePeriod": {"start": "2026-03-02T09:30:00-06:00", "end": "2026-03-02T10:10:00-06:00"},
    "performer": [{"actor": {"identifier": _NPI, "display": "Fiona Field, RN"}}],
    "dosage": {"text": "0.5 mg/kg IV over 40 minutes",
               "dose": {"value": 35, "unit": "mg", "system": _UCUM, "code": "mg"}},
}  # fmt: skip
"""An IV ketamine infusion charted by an EHR."""

DISPENSE_EXAMPLE: dict[str, Any] = {
    "resourceType": DISPENSE,
    "identifier": [{"system": "http://pharmacy.example.org/dispense", "value": "D-0000412"}],
    "status": "completed",
    "contained": [_medication({"system": "urn:csledger:compound-code", "code": "KET-TRO-100",
                               "display": "Ketamine 100 mg sublingual troche"}, "B2026-014")],
    "medicationReference": {"reference": "#med"},
    "subject": {"identifier": _MRN},
    "performer": [{"actor": {"identifier": _NPI}}],
    "authorizingPrescription": [{"identifier": {"system": "http://pharmacy.example.org/rx",
                                                "value": "RX-100231"}}],
    "quantity": {"value": 30, "unit": "troche", "system": _UCUM, "code": "{troche}"},
    "daysSupply": {"value": 30, "unit": "day", "system": _UCUM, "code": "d"},
    "whenHandedOver": "2026-03-02T16:45:00-06:00",
}  # fmt: skip
"""Thirty compounded troches handed to the patient."""


def _resource(resource_type: str, purpose: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": resource_type,
        "description": (
            f"An R4 {resource_type} ({purpose}), any element R4 allows. Served back with our "
            "`id`, `meta` and an extension `urn:csledger:fhir:ledger-event` per ledger event "
            "it made."
        ),
        "type": "object",
        "required": ["resourceType", "status"],
        "properties": {
            "resourceType": {"const": resource_type},
            "id": {"type": "string"},
            "status": {"type": "string"},
            "identifier": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": True,
        "examples": [example],
    }


RESOURCE_SCHEMAS: dict[str, dict[str, Any]] = {
    ADMINISTRATION: _resource(ADMINISTRATION, "a dose given", ADMINISTRATION_EXAMPLE),
    DISPENSE: _resource(DISPENSE, "a fill handed over", DISPENSE_EXAMPLE),
}
