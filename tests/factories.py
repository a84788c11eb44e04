"""Valid request bodies and helpers that create resources through the API."""

import itertools
import uuid
from typing import Any

import httpx

from app.core.identifiers import dea_check_digit

_serial = itertools.count(1000001)


def dea_number(prefix: str = "BK") -> str:
    """A fresh DEA number with a valid check digit."""
    digits = f"{next(_serial) % 1_000_000:06d}"
    return f"{prefix}{digits}{dea_check_digit(digits)}"


ADDRESS = {"line1": "100 Main St", "city": "Austin", "state": "TX", "postal_code": "78701"}


def registrant_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Hill Country Ketamine Clinic",
        "kind": "clinic",
        "dea_number": dea_number("FK"),
        "schedules": ["3N", "4"],
        "registration_expires_on": "2027-06-30",
        "address": ADDRESS,
        "timezone": "America/Chicago",
    }
    body.update(overrides)
    return body


def patient_body(registrant_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "registrant_id": registrant_id,
        "external_id": f"MRN-{uuid.uuid4().hex[:8]}",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": "1980-12-10",
        "sex": "female",
        "address": ADDRESS,
        "weight_kg": "70.5",
    }
    body.update(overrides)
    return body


def injection_body(registrant_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "registrant_id": registrant_id,
        "name": "Ketamine HCl injection 50 mg/mL, 10 mL vial",
        "ndc": "0409-2051-05",
        "substance": "ketamine",
        "dosage_form": "injection",
        "strength": {"value": "50", "unit": "mg/mL", "basis": "base"},
        "inventory_unit": "mL",
        "package_size": "10",
    }
    body.update(overrides)
    return body


async def create_registrant(
    client: httpx.AsyncClient, admin_token: str, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/registrants",
        json=registrant_body(**overrides),
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
