"""Valid request bodies and helpers that create resources through the API."""

import itertools
import uuid
from typing import Any

import httpx

from app.core.identifiers import dea_check_digit
from tests.conftest import DatabaseProbe, bearer

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


# Helpers added for the registry and catalog tests.

PROBLEM_TYPE_PREFIX = "urn:csledger:problem:"


def assert_problem(
    response: httpx.Response,
    status: int,
    slug: str,
    *,
    pointer: str | None = None,
    parameter: str | None = None,
) -> dict[str, Any]:
    """Check an RFC 9457 answer: status, media type, problem type, request id, named field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_TYPE_PREFIX + slug, body
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    errors = body.get("errors", [])
    if pointer is not None:
        assert pointer in [error.get("pointer") for error in errors], body
    if parameter is not None:
        assert parameter in [error.get("parameter") for error in errors], body
    return body


async def create(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], token_value: str
) -> dict[str, Any]:
    """POST ``body`` to ``path``, expecting 201 with a ``Location`` naming the created id."""
    response = await client.post(path, json=body, headers=bearer(token_value))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    assert response.headers["location"].endswith(f"/{result['id']}")
    return result


async def walk_pages(
    client: httpx.AsyncClient,
    path: str,
    token_value: str,
    *,
    limit: int,
    params: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every item of a list endpoint, following ``next_cursor`` with pages of ``limit``."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**(params or {}), "limit": str(limit)}
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get(path, params=query, headers=bearer(token_value))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def location_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"Vault {uuid.uuid4().hex[:6]}", "kind": "vault"}
    body.update(overrides)
    return body


def staff_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Grace Hopper",
        "role": "prescriber",
        "subject": f"staff-{uuid.uuid4().hex[:8]}",
        "npi": "1245319599",
    }
    body.update(overrides)
    return body


def staff_registration_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dea_number": dea_number("MK"),
        "schedules": ["3N"],
        "expires_on": "2027-01-31",
        "state": "TX",
    }
    body.update(overrides)
    return body


def nasal_spray_body(registrant_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "registrant_id": registrant_id,
        "name": "Spravato 56 mg kit",
        "ndc": "50458-028-02",
        "substance": "esketamine",
        "dosage_form": "nasal_spray",
        "strength": {"value": "28", "unit": "mg", "basis": "base"},
        "inventory_unit": "device",
        "package_size": "2",
    }
    body.update(overrides)
    return body


def troche_body(registrant_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "registrant_id": registrant_id,
        "name": "Ketamine 100 mg sublingual troche",
        "compound_code": f"KET-TRO-{uuid.uuid4().hex[:6]}",
        "ingredients": [
            {"name": "Ketamine HCl powder", "quantity": "115.3", "unit": "mg"},
            {"name": "Troche base", "quantity": "0.9", "unit": "g"},
            {"name": "Stevia flavouring", "quantity": "2.5", "unit": "mg"},
        ],
        "substance": "ketamine",
        "dosage_form": "troche",
        "strength": {"value": "100", "unit": "mg", "basis": "base"},
        "inventory_unit": "each",
        "package_size": "30",
    }
    body.update(overrides)
    return body


# Helpers added for the authentication and authorisation tests.


async def assert_refused(
    client: httpx.AsyncClient,
    probe: DatabaseProbe,
    method: str,
    url: str,
    *,
    status: int,
    problem: str,
    subject: str | None = None,
    headers: dict[str, str] | None = None,
    json: dict[str, Any] | None = None,
    content: bytes | None = None,
    pointer: str | None = None,
    parameter: str | None = None,
) -> httpx.Response:
    """Send a request that must be refused with ``problem`` and leave nothing but its audit row.

    The row names the request, its status, its problem and (for a valid token) who sent it.
    ``content`` sends a body as raw bytes (JSON that ``json`` cannot express, such as a key
    given twice); ``pointer`` or ``parameter`` names the field the refusal must point to.
    """
    rows_before = await probe.business_rows()
    audited_before = await probe.audit_count()
    if content is not None:
        headers = {"Content-Type": "application/json", **(headers or {})}
    response = await client.request(method, url, headers=headers, json=json, content=content)
    body = assert_problem(
        response,
        status,
        problem.removeprefix(PROBLEM_TYPE_PREFIX),
        pointer=pointer,
        parameter=parameter,
    )
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer ")
    assert await probe.business_rows() == rows_before, f"{method} {url} wrote a row"
    audits = await probe.audit_rows(body["request_id"])
    # A row for each registrant the request touched (or the platform's, when none).
    assert audits
    assert await probe.audit_count() == audited_before + len(audits)
    assert len({audit.registrant_id for audit in audits}) == len(audits)
    for audit in audits:
        assert (audit.method, audit.path, audit.kind) == (method, response.url.path, "refused")
        assert (audit.status_code, audit.problem_type, audit.subject) == (status, problem, subject)
    return response
