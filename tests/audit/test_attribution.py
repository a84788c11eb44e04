"""Every request that touches a registrant's data, written or refused, is in that registrant's
audit trail; a request aimed at no registrant is in the platform's.

The walk takes every write route of the OpenAPI document, aims it at an object of the demo's
clinic or pharmacy, and finds the request in the audit-trail report of the object's owner.
"""

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.audit.owners import claimed_in_body
from app.auth.permissions import Role
from app.auth.tokens import mint_token
from app.core.clock import FrozenClock
from app.core.db import table_of
from app.demo import DemoRegistrants, load_demo
from app.main import PATH_OWNERS
from app.registry.models import Patient, Registrant
from app.reports.pdmp import day, submissions
from app.reports.scope import Scope
from app.worker import Worker
from tests.conftest import START, TokenFactory, bearer
from tests.factories import create, injection_body
from tests.ledger.conftest import SUPPLIER

WRITE_METHODS = {"post", "put", "patch", "delete"}
PLATFORM = "platform"
FIRST_DAY, LAST_DAY = (START - timedelta(days=1)).date(), (START + timedelta(days=1)).date()


def write_routes(app: Any) -> list[tuple[str, str]]:
    document = app.openapi()
    return sorted((method.upper(), path) for path, operations in document["paths"].items()
                  for method in operations if method in WRITE_METHODS)  # fmt: skip


def test_every_path_parameter_names_its_owners_table(app):
    named = {name for _, path in write_routes(app) for name in re.findall(r"{(\w+)}", path)}
    every = {name for path in app.openapi()["paths"] for name in re.findall(r"{(\w+)}", path)}
    assert named <= every
    assert every - {"registrant_id"} == set(PATH_OWNERS)
    for table in PATH_OWNERS.values():
        assert {"id", "registrant_id"} <= set(table.columns.keys()), table.name


def test_a_body_names_its_registrant_or_its_events_registrants():
    a, b = uuid.uuid4(), uuid.uuid4()
    assert claimed_in_body(f'{{"registrant_id": "{a}"}}'.encode()) == [a]
    events = f'{{"events": [{{"registrant_id": "{a}"}}, {{"registrant_id": "{b}"}}, {{}}]}}'
    assert claimed_in_body(events.encode()) == [a, b]
    for body in (b"", b"[1]", b"{", b'{"registrant_id": "vault"}', b'{"registrant_id": 7}'):
        assert claimed_in_body(body) == []


# The walk


async def demo_world(app: Any, client: httpx.AsyncClient, admin_token: str) -> DemoRegistrants:
    """The demo, a FHIR sender and a webhook endpoint at the clinic, then its worker run once
    with the nightly schedule (which opens the demo's planted short count), and a delivery to
    the endpoint."""
    settings, database = app.state.settings, app.state.database
    loaded = await load_demo(database, FrozenClock(START), settings)
    assert loaded is not None
    clinic = str(loaded.registrants.clinic_id)
    rooms = await client.get(f"/v1/registrants/{clinic}/locations", headers=bearer(admin_token))
    [room] = [r for r in rooms.json()["items"] if r["kind"] == "procedure_room"][:1]
    await create(client, "/v1/integrations/fhir-senders",
                 {"registrant_id": clinic, "subject": "ehr-1", "location_id": room["id"]},
                 admin_token)  # fmt: skip
    await _fhir_record(app, client, clinic)
    await create(client, "/v1/webhooks/endpoints",
                 {"registrant_id": clinic, "url": "http://127.0.0.1:9/hooks",
                  "event_types": ["discrepancy.opened"]}, admin_token)  # fmt: skip
    await Worker(database, settings, FrozenClock(START)).run_until_idle()
    await _pdmp_submission(app, loaded.registrants.pharmacy_id)
    return loaded.registrants


async def _fhir_record(app: Any, client: httpx.AsyncClient, clinic: str) -> None:
    """An infusion the EHR charts as under way (it moves no stock yet)."""
    patients = table_of(Patient)
    async with app.state.database.session(write=False) as session:
        patient = await session.scalar(select(patients.c.id).where(
            patients.c.registrant_id == uuid.UUID(clinic)).limit(1))  # fmt: skip
    resource = {"resourceType": "MedicationAdministration", "id": "ehr-infusion-1",
                "status": "in-progress", "subject": {"reference": f"Patient/{patient}"},
                "medicationCodeableConcept": {"text": "Ketamine infusion"},
                "effectiveDateTime": START.isoformat()}  # fmt: skip
    integration = mint_token(app.state.settings, subject="ehr-1", name="Hospital EHR",
                             roles=[Role.integration], registrants=[clinic],
                             now=datetime.now(UTC))  # fmt: skip
    response = await client.post(
        "/v1/fhir/MedicationAdministration", json=resource,
        headers=bearer(integration) | {"Content-Type": "application/fhir+json"},
    )  # fmt: skip
    assert response.status_code == 201, response.text


async def _pdmp_submission(app: Any, pharmacy_id: uuid.UUID) -> None:
    """The pharmacy's file of the day before, submitted."""
    async with app.state.database.transaction() as session:
        pharmacy = await session.get(Registrant, pharmacy_id)
        assert pharmacy is not None
        reported = await day.day_report(session, Scope(pharmacy, START), FIRST_DAY,
                                      app.state.settings, field="date")  # fmt: skip
        await submissions.submit(session, reported, corrects=None,
                                 by=submissions.Author("officer", "Olive Officer"))  # fmt: skip


async def an_object(app: Any, parameter: str) -> tuple[str, str]:
    """An existing row that ``parameter`` names, and its owner."""
    table = PATH_OWNERS[parameter]
    async with app.state.database.session(write=False) as session:
        row = (await session.execute(select(table.c.id, table.c.registrant_id).limit(1))).first()
    assert row is not None, f"the world holds no {table.name}"
    return str(row.id), str(row.registrant_id)


async def aimed_request(
    app: Any, method: str, path: str, world: DemoRegistrants
) -> tuple[str, dict[str, Any], str]:
    """The route aimed at an object of the world: its URL, a body the route refuses, and
    the registrant the request must be attributed to."""
    owner, url = None, path
    for name in re.findall(r"{(\w+)}", path):
        row_id, row_owner = (
            (str(world.clinic_id),) * 2 if name == "registrant_id" and owner is None
            else (owner, owner) if name == "registrant_id"
            else await an_object(app, name)
        )  # fmt: skip
        if name == "staff_id" and owner is not None:
            row_id = await _staff_of(app, owner)
        owner = owner or row_owner
        url = url.replace(f"{{{name}}}", str(row_id))
    if owner is None and path == "/v1/registrants":
        return url, {}, PLATFORM
    owner = owner or str(world.pharmacy_id)
    body: dict[str, Any] = {"registrant_id": owner}
    if path.startswith("/v1/fhir/"):
        url, body = f"{url}?registrant_id={owner}", {}
    if path.endswith(":batch"):
        body = {"events": [{"registrant_id": owner}]}
    return url, body, owner


async def _staff_of(app: Any, registrant_id: str) -> str:
    table = table_of(__import__("app.registry.models", fromlist=["Staff"]).Staff)
    async with app.state.database.session(write=False) as session:
        found = await session.scalar(
            select(table.c.id).where(table.c.registrant_id == uuid.UUID(registrant_id)).limit(1)
        )
    return str(found)


async def trail(client: httpx.AsyncClient, token_value: str, registrant: str) -> set[str]:
    """The request ids in a registrant's audit-trail report (or the platform's)."""
    period = {"from": FIRST_DAY.isoformat(), "to": LAST_DAY.isoformat()}
    if registrant == PLATFORM:
        response = await client.get("/v1/reports/platform-audit-trail", params=period,
                                    headers=bearer(token_value))  # fmt: skip
    else:
        response = await client.get("/v1/reports/audit-trail",
                                    params=period | {"registrant_id": registrant},
                                    headers=bearer(token_value))  # fmt: skip
    assert response.status_code == 200, response.text
    return {row["request_id"] for row in response.json()["items"]}


async def test_every_write_route_is_in_the_trail_of_the_registrant_it_was_aimed_at(
    app, client, admin_token, token: TokenFactory
):
    world = await demo_world(app, client, admin_token)
    registrants = [str(world.clinic_id), str(world.pharmacy_id)]
    everyone = token(["pharmacist", "clinician", "prescriber", "compliance_officer"],
                     registrants, sub="demo-staff")  # fmt: skip
    stranger = token(["pharmacist", "clinician", "compliance_officer"], [str(uuid.uuid4())],
                     sub="stranger")  # fmt: skip
    expected: dict[str, str] = {}
    for method, path in write_routes(app):
        url, body, owner = await aimed_request(app, method, path, world)
        for caller in (everyone, stranger, admin_token):
            keyed = bearer(caller) | {"Idempotency-Key": "k"}
            response = await client.request(method, url, json=body, headers=keyed)
            assert response.status_code < 500, (method, url, response.text)
            expected[response.headers["x-request-id"]] = f"{method} {path} -> {owner}"
    found = {registrant: await trail(client, admin_token, registrant)
             for registrant in [*registrants, PLATFORM]}  # fmt: skip
    missing = [what for request_id, what in expected.items()
               if request_id not in found[what.rsplit(" -> ", 1)[1]]]  # fmt: skip
    assert missing == []


async def test_a_request_aimed_at_nothing_is_the_platforms(app, client, admin_token, token):
    world = await demo_world(app, client, admin_token)
    nowhere = str(uuid.uuid4())
    clinic = str(world.clinic_id)
    officer = token(["compliance_officer"], [clinic], sub="officer")
    response = await client.post(f"/v1/sessions/{nowhere}/abort", json={"reason": "x"},
                                 headers=bearer(officer) | {"Idempotency-Key": "k"})  # fmt: skip
    assert response.status_code in (403, 404, 422), response.text
    request_id = response.headers["x-request-id"]
    assert request_id in await trail(client, admin_token, PLATFORM)
    assert request_id not in await trail(client, admin_token, clinic)


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_only_a_platform_admin_pulls_the_platforms_trail(client, token, admin_token):
    period = {"from": FIRST_DAY.isoformat(), "to": LAST_DAY.isoformat()}
    narrow_admin = token(["admin"], [str(uuid.uuid4())], sub="narrow-admin")
    officer = token(["compliance_officer"], [str(uuid.uuid4())], sub="officer")
    for caller in (narrow_admin, officer):
        refused = await client.get("/v1/reports/platform-audit-trail", params=period,
                                   headers=bearer(caller))  # fmt: skip
        assert refused.status_code == 403, refused.text
    as_csv = period | {"format": "csv"}
    pulled = await client.get("/v1/reports/platform-audit-trail", params=as_csv,
                              headers=bearer(admin_token))  # fmt: skip
    assert pulled.status_code == 200, pulled.text
    assert "platform_audit_trail-platform.csv" in pulled.headers["content-disposition"]


# The writes that used to be stored with no registrant


async def written(
    client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any] | None, caller: str
) -> str:
    """Send a write that must succeed; its request id."""
    keyed = bearer(caller) | {"Idempotency-Key": str(uuid.uuid4())}
    response = await client.request(method, url, json=body, headers=keyed)
    assert response.status_code < 300, (method, url, response.text)
    return response.headers["x-request-id"]


async def test_writes_about_a_registrant_are_in_its_trail(app, client, admin_token, token):
    world = await demo_world(app, client, admin_token)
    clinic = str(world.clinic_id)
    staff = token(["clinician", "pharmacist", "compliance_officer"], [clinic], sub="demo-staff")
    places = (await client.get(f"/v1/registrants/{clinic}/locations",
                               headers=bearer(admin_token))).json()["items"]  # fmt: skip
    [vault] = [place for place in places if place["kind"] == "vault"][:1]
    requests: list[str] = []

    hook = {"registrant_id": clinic, "url": "http://127.0.0.1:9/patients",
            "event_types": ["session.discharged"], "include_patient_data": True}  # fmt: skip
    made = await client.post("/v1/webhooks/endpoints", json=hook, headers=bearer(admin_token))
    requests.append(made.headers["x-request-id"])
    endpoint = f"/v1/webhooks/endpoints/{made.json()['id']}"
    requests.append(await written(client, "PATCH", endpoint,
                                  {"url": "http://127.0.0.1:9/moved"}, admin_token))  # fmt: skip
    requests.append(await written(client, "POST", f"{endpoint}/secret-rotations", {},
                                  admin_token))  # fmt: skip
    product = await client.post("/v1/products", json=injection_body(clinic, ndc="0409-2053-05"),
                                headers=bearer(staff))  # fmt: skip
    requests.append(product.headers["x-request-id"])
    lot = await client.post(f"/v1/products/{product.json()['id']}/lots",
                            json={"lot_number": "AUD-1", "expires_on": "2027-06-30"},
                            headers=bearer(staff))  # fmt: skip
    requests.append(lot.headers["x-request-id"])
    receipt = {"registrant_id": clinic, "type": "receipt", "location_id": vault["id"],
               "lot_id": lot.json()["id"], "quantity": "10",
               "occurred_at": (START - timedelta(minutes=5)).isoformat(),
               "counterparty": SUPPLIER, "document_reference": "INV-AUD-1"}  # fmt: skip
    requests.append(await written(client, "POST", "/v1/ledger/events:batch",
                                  {"events": [receipt]}, staff))  # fmt: skip
    sender = {"registrant_id": clinic, "subject": "ehr-2", "location_id": vault["id"]}
    requests.append(await written(client, "POST", "/v1/integrations/fhir-senders", sender,
                                  admin_token))  # fmt: skip
    requests.append(await written(client, "POST", "/v1/ledger/verifications",
                                  {"registrant_id": clinic}, staff))  # fmt: skip

    in_trail = await trail(client, admin_token, clinic)
    assert [request_id in in_trail for request_id in requests] == [True] * len(requests)
    assert not set(requests) & await trail(client, admin_token, PLATFORM)


async def test_a_refused_attempt_at_another_registrants_object_is_in_its_trail(
    app, client, admin_token, token
):
    world = await demo_world(app, client, admin_token)
    clinic, pharmacy = str(world.clinic_id), str(world.pharmacy_id)
    session_id, owner = await an_object(app, "session_id")
    assert owner == clinic
    outsider = token(["clinician"], [pharmacy], sub="demo-staff")
    refused = await client.post(f"/v1/sessions/{session_id}/abort",
                                json={"reason": "patient left",
                                      "aborted_at": START.isoformat()},
                                headers=bearer(outsider) | {"Idempotency-Key": "k"})  # fmt: skip
    assert refused.status_code == 404, refused.text
    assert refused.headers["x-request-id"] in await trail(client, admin_token, clinic)
