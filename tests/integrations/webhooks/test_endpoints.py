"""Webhook endpoints over the API: made with a secret shown once, changed, rotated, refused."""

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.main import create_app
from tests.conftest import bearer
from tests.factories import assert_problem, assert_refused, create
from tests.integrations.webhooks.conftest import Hooks

ENDPOINTS = "/v1/webhooks/endpoints"
PROBLEM = "urn:csledger:problem:"


def _body(hooks: Hooks, **overrides: Any) -> dict[str, Any]:
    return {"registrant_id": hooks.clinic.registrant.id, "url": "https://ehr.example.com/hook",
            "event_types": ["ledger.event.dispense", "discrepancy.opened"]} | overrides  # fmt: skip


async def test_an_endpoint_is_made_with_a_secret_shown_only_then(hooks: Hooks):
    response = await hooks.client.post(
        ENDPOINTS, json=_body(hooks, event_types=["discrepancy.opened", "discrepancy.opened",
                                                  "ledger.event.dispense"]),
        headers=bearer(hooks.admin_token) | {"Idempotency-Key": "make-1"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["location"] == f"{ENDPOINTS}/{made['id']}"
    assert made["secret"].startswith("whsec_")
    assert len(base64.b64decode(made["secret"].removeprefix("whsec_"))) >= 24
    assert made["event_types"] == ["discrepancy.opened", "ledger.event.dispense"]
    assert (made["enabled"], made["include_patient_data"], made["include_fhir"]) == (
        True, False, False,
    )  # fmt: skip
    shown = await hooks.get(f"{ENDPOINTS}/{made['id']}")
    assert shown == {k: v for k, v in made.items() if k != "secret"}
    listed = await hooks.get(ENDPOINTS, registrant_id=hooks.clinic.registrant.id)
    assert [item["id"] for item in listed["items"]] == [made["id"]]
    history = await hooks.get(f"{ENDPOINTS}/{made['id']}/history")
    assert made["secret"] not in str(history)


async def test_a_change_keeps_the_previous_version(hooks: Hooks):
    made = await create(hooks.client, ENDPOINTS, _body(hooks), hooks.admin_token)
    response = await hooks.client.patch(
        f"{ENDPOINTS}/{made['id']}", json={"event_types": ["session.discharged"],
                                          "include_fhir": True},
        headers=bearer(hooks.admin_token),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["event_types"], changed["include_fhir"], changed["version"]) == (
        ["session.discharged"], True, 2,
    )  # fmt: skip
    history = await hooks.get(f"{ENDPOINTS}/{made['id']}/history")
    assert [r["data"]["event_types"] for r in history] == [
        ["discrepancy.opened", "ledger.event.dispense"], ["session.discharged"],
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"event_types": ["ledger.event.teleport"]}, "#/event_types/0"),
        ({"event_types": []}, "#/event_types"),
        ({"url": "ftp://ehr.example.com/hook"}, "#/url"),
        ({"url": "https://user:pw@ehr.example.com/hook"}, "#/url"),
        ({"secret": "whsec_mine"}, "#/secret"),
    ],
)
async def test_a_malformed_endpoint_is_refused(hooks: Hooks, probe, change, pointer):
    response = await assert_refused(
        hooks.client, probe, "POST", ENDPOINTS, status=422, problem=PROBLEM + "invalid-input",
        json=_body(hooks) | change, subject="platform-admin",
        headers=bearer(hooks.admin_token) | {"Idempotency-Key": "bad-1"},
    )  # fmt: skip
    assert pointer in [e.get("pointer") for e in response.json()["errors"]], response.text


async def test_only_an_administrator_of_the_registrant_manages_endpoints(hooks: Hooks, probe,
                                                                         token):  # fmt: skip
    rid = hooks.clinic.registrant.id
    officer = token(["compliance_officer"], [rid], sub="officer-9")
    stranger = token(["admin"], ["00000000-0000-4000-8000-000000000000"], sub="admin-9")
    made = await create(hooks.client, ENDPOINTS, _body(hooks), hooks.admin_token)
    await assert_refused(hooks.client, probe, "POST", ENDPOINTS, status=403,
                         problem=PROBLEM + "permission-denied", json=_body(hooks),
                         subject="officer-9",
                         headers=bearer(officer) | {"Idempotency-Key": "x-1"})  # fmt: skip
    await assert_refused(hooks.client, probe, "POST", ENDPOINTS, status=404,
                         problem=PROBLEM + "not-found", json=_body(hooks), subject="admin-9",
                         headers=bearer(stranger) | {"Idempotency-Key": "x-2"})  # fmt: skip
    for path in (f"{ENDPOINTS}/{made['id']}", "/v1/webhooks/deliveries?registrant_id=" + rid):
        response = await hooks.client.get(path, headers=bearer(stranger))
        assert_problem(response, 404, "not-found")
    await assert_refused(hooks.client, probe, "PATCH", f"{ENDPOINTS}/{made['id']}", status=404,
                         problem=PROBLEM + "not-found", json={"enabled": False}, subject="admin-9",
                         headers=bearer(stranger))  # fmt: skip


ADDRESSES = {
    "ehr.example.com": ["93.184.216.34"],
    "metadata.example.com": ["169.254.169.254"],
    "intranet.example.com": ["93.184.216.34", "10.0.0.8"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
}


@pytest.fixture
async def production_like(app_settings, clock) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app as outside development: https only, public addresses only."""
    settings = app_settings.model_copy(update={"webhook_allow_private_networks": False})
    app = create_app(settings, clock=clock)

    async def resolve(host: str, port: int) -> list[str]:
        if host not in ADDRESSES:
            raise OSError("no such host")
        return ADDRESSES[host]

    app.state.webhook_resolver = resolve
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:  # fmt: skip
        yield app, client
    await app.state.database.dispose()


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://ehr.example.com/hook", "scheme must be https"),
        ("https://127.0.0.1/hook", "non-public address (127.0.0.1)"),
        ("https://[::1]/hook", "non-public address (::1)"),
        ("https://metadata.example.com/hook", "non-public address (169.254.169.254)"),
        ("https://intranet.example.com/hook", "non-public address (10.0.0.8)"),
        ("https://mapped.example.com/hook", "non-public address (::ffff:"),
        ("https://nowhere.example.com/hook", "does not resolve"),
    ],
)
async def test_outside_development_only_public_https_urls_are_taken(
    hooks: Hooks, production_like, url, detail
):
    _app, client = production_like
    response = await client.post(ENDPOINTS, json=_body(hooks, url=url), headers=bearer(
        hooks.admin_token) | {"Idempotency-Key": "ssrf"})  # fmt: skip
    body = assert_problem(response, 422, "invalid-input", pointer="#/url")
    assert detail in body["errors"][0]["detail"], body


async def test_outside_development_a_public_https_url_is_taken(hooks: Hooks, production_like):
    _app, client = production_like
    response = await client.post(ENDPOINTS, json=_body(hooks), headers=bearer(
        hooks.admin_token) | {"Idempotency-Key": "fine"})  # fmt: skip
    assert response.status_code == 201, response.text


async def test_a_replay_answers_the_endpoint_without_its_secret(hooks: Hooks, probe):
    headers = bearer(hooks.admin_token) | {"Idempotency-Key": "make-once"}
    first = await hooks.client.post(ENDPOINTS, json=_body(hooks), headers=headers)
    again = await hooks.client.post(ENDPOINTS, json=_body(hooks), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() | {"secret": None}
    async with probe.engine.connect() as connection:
        kept = await connection.scalar(text("SELECT body FROM idempotency_keys"))
    assert first.json()["secret"] not in str(kept)


async def test_the_openapi_document_shows_receivers_what_they_get(client):
    document = (await client.get("/openapi.json")).json()
    delivery = document["webhooks"]["csledger-event"]["post"]
    headers = {p["name"] for p in delivery["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    body = delivery["requestBody"]["content"]["application/json"]["schema"]
    envelope = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert {"id", "type", "version", "time", "registrant_id", "sequence", "data"} <= set(
        envelope["properties"]
    )
