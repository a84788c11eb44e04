"""Registrants through HTTP: create, read, list, renew (PATCH) with history, and refusals."""

import base64
import json
import uuid
from datetime import datetime, timedelta

import pytest

from tests.conftest import START, bearer
from tests.factories import (
    assert_problem,
    create,
    create_registrant,
    dea_number,
    registrant_body,
    walk_pages,
)


async def test_create_answers_201_with_location_and_the_registrant(client, admin_token):
    body = registrant_body(dea_number="fk1234563", npi="1245319599", holidays=["2026-12-25"])
    response = await client.post("/v1/registrants", json=body, headers=bearer(admin_token))
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/v1/registrants/{created['id']}"
    assert created["dea_number"] == "FK1234563"
    assert created["schedules"] == ["3N", "4"]
    assert created["state"] == "TX"
    assert created["holidays"] == ["2026-12-25"]
    assert created["rems_certification_status"] == "not_certified"
    assert created["version"] == 1

    fetched = await client.get(response.headers["location"], headers=bearer(admin_token))
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_dea_number_with_a_bad_check_digit_is_refused(client, admin_token):
    response = await client.post(
        "/v1/registrants",
        json=registrant_body(dea_number="AP5836728"),
        headers=bearer(admin_token),
    )
    assert_problem(response, 422, "invalid-input", pointer="#/dea_number")


async def test_duplicate_dea_number_is_409_already_exists(client, admin_token):
    first = await create_registrant(client, admin_token)
    response = await client.post(
        "/v1/registrants",
        json=registrant_body(dea_number=first["dea_number"].lower(), name="Another clinic"),
        headers=bearer(admin_token),
    )
    assert_problem(response, 409, "already-exists", pointer="#/dea_number")


async def test_unknown_body_field_is_refused(client, admin_token):
    response = await client.post(
        "/v1/registrants",
        json=registrant_body(dea_numbr="FK1234563"),
        headers=bearer(admin_token),
    )
    assert_problem(response, 422, "invalid-input", pointer="#/dea_numbr")


async def test_list_walks_every_registrant_once_in_creation_order(client, admin_token, clock):
    created = []
    for _ in range(5):
        created.append((await create_registrant(client, admin_token))["id"])
        clock.advance(timedelta(seconds=1))
    items = await walk_pages(client, "/v1/registrants", admin_token, limit=2)
    assert [item["id"] for item in items] == created


def _forged_cursor(created_at: str) -> str:
    raw = json.dumps([created_at, str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_list_refuses_a_cursor_it_did_not_issue(client, admin_token):
    garbage, naive, not_a_timestamp = (
        "not-a-cursor",
        _forged_cursor("2026-03-02T15:00:00"),
        _forged_cursor("yesterday"),
    )
    for cursor in (garbage, naive, not_a_timestamp):
        response = await client.get(
            "/v1/registrants", params={"cursor": cursor}, headers=bearer(admin_token)
        )
        assert_problem(response, 422, "invalid-input", parameter="cursor")


async def test_list_filters_by_kind_state_and_dea_number(client, admin_token):
    clinic = await create_registrant(client, admin_token)
    pharmacy = await create_registrant(
        client,
        admin_token,
        kind="pharmacy",
        address={"line1": "1 Elm St", "city": "Denver", "state": "CO", "postal_code": "80202"},
    )

    async def ids(**params: str) -> list[str]:
        response = await client.get("/v1/registrants", params=params, headers=bearer(admin_token))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids(kind="pharmacy") == [pharmacy["id"]]
    assert await ids(state="tx") == [clinic["id"]]
    assert await ids(dea_number=clinic["dea_number"].lower()) == [clinic["id"]]


async def test_list_shows_a_token_only_its_own_registrants(client, admin_token, token):
    own = await create_registrant(client, admin_token)
    await create_registrant(client, admin_token)
    officer = token(["compliance_officer"], [own["id"]])
    items = await walk_pages(client, "/v1/registrants", officer, limit=10)
    assert [item["id"] for item in items] == [own["id"]]


async def test_another_registrant_is_404(client, admin_token, token):
    own = await create_registrant(client, admin_token)
    other = await create_registrant(client, admin_token)
    officer = token(["compliance_officer"], [own["id"]])
    response = await client.get(f"/v1/registrants/{other['id']}", headers=bearer(officer))
    assert_problem(response, 404, "not-found")


async def test_renewal_increments_version_and_history_keeps_both(client, admin_token, clock):
    registrant = await create(client, "/v1/registrants", registrant_body(), admin_token)
    clock.advance(timedelta(days=300))
    renewed = await client.patch(
        f"/v1/registrants/{registrant['id']}",
        json={"registration_expires_on": "2030-06-30"},
        headers=bearer(admin_token),
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["version"] == 2
    assert renewed.json()["registration_expires_on"] == "2030-06-30"

    history = await client.get(
        f"/v1/registrants/{registrant['id']}/history", headers=bearer(admin_token)
    )
    assert history.status_code == 200
    versions = history.json()
    assert [v["version"] for v in versions] == [1, 2]
    assert [v["data"]["registration_expires_on"] for v in versions] == ["2027-06-30", "2030-06-30"]
    assert {v["changed_by"] for v in versions} == {"platform-admin"}
    assert [datetime.fromisoformat(v["changed_at"]) for v in versions] == [
        START,
        START + timedelta(days=300),
    ]


async def test_patch_that_changes_nothing_keeps_the_version(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    response = await client.patch(
        f"/v1/registrants/{registrant['id']}",
        json={"name": registrant["name"]},
        headers=bearer(admin_token),
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1


async def test_patch_with_null_for_a_required_field_is_refused(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    response = await client.patch(
        f"/v1/registrants/{registrant['id']}",
        json={"registration_expires_on": None},
        headers=bearer(admin_token),
    )
    assert_problem(response, 422, "invalid-input", pointer="#/registration_expires_on")


async def test_patch_with_nothing_is_refused(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    response = await client.patch(
        f"/v1/registrants/{registrant['id']}", json={}, headers=bearer(admin_token)
    )
    assert_problem(response, 422, "invalid-input")


async def test_patch_refuses_unknown_fields_and_the_dea_number(client, admin_token):
    """The DEA number identifies the registration: a new one is a new registrant."""
    registrant = await create_registrant(client, admin_token)
    response = await client.patch(
        f"/v1/registrants/{registrant['id']}",
        json={"dea_number": dea_number()},
        headers=bearer(admin_token),
    )
    assert_problem(response, 422, "invalid-input", pointer="#/dea_number")


async def test_only_an_admin_creates_registrants(client, admin_token, token):
    registrant = await create_registrant(client, admin_token)
    officer = token(["compliance_officer"], [registrant["id"]])
    response = await client.post("/v1/registrants", json=registrant_body(), headers=bearer(officer))
    assert_problem(response, 403, "permission-denied")


@pytest.mark.parametrize(
    ("created_with", "patch"),
    [
        ({}, {"rems_certification_status": "certified"}),
        (
            {"rems_certification_status": "certified", "rems_certification_id": "REMS-123"},
            {"rems_certification_id": None},
        ),
    ],
    ids=["certify-without-id", "clear-id-of-certified"],
)
async def test_patch_cannot_leave_a_rems_certified_setting_without_its_id(
    client, admin_token, created_with, patch
):
    registrant = await create_registrant(client, admin_token, **created_with)
    response = await client.patch(
        f"/v1/registrants/{registrant['id']}", json=patch, headers=bearer(admin_token)
    )
    assert_problem(response, 422, "invalid-input", pointer="#/rems_certification_id")


async def test_patch_certifies_a_setting_that_gives_its_rems_id(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    response = await client.patch(
        f"/v1/registrants/{registrant['id']}",
        json={"rems_certification_status": "certified", "rems_certification_id": "REMS-123"},
        headers=bearer(admin_token),
    )
    assert response.status_code == 200, response.text
    assert response.json()["rems_certification_status"] == "certified"
