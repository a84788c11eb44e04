"""Patients: one registrant's, with history, and every read of them in the audit log."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit.models import AuditEntry
from tests.conftest import bearer
from tests.factories import (
    assert_problem,
    assert_refused,
    create,
    create_registrant,
    patient_body,
    walk_pages,
)

INVALID_INPUT = "urn:csledger:problem:invalid-input"
GIVEN_NAME = "Wilhelmina"
FAMILY_NAME = "Quackenbush"


@pytest.fixture
async def audit_log(database_url: str) -> AsyncIterator[Any]:
    """Reads every audit row, as committed, through an engine of the test's own."""
    engine = create_async_engine(database_url)

    async def rows() -> list[dict[str, Any]]:
        async with engine.connect() as connection:
            result = await connection.execute(select(AuditEntry.__table__))
            return [dict(row._mapping) for row in result]

    yield rows
    await engine.dispose()


@pytest.fixture
async def registrant(client, admin_token) -> dict[str, Any]:
    return await create_registrant(client, admin_token)


@pytest.fixture
def clinician(token, registrant) -> str:
    return str(token(["clinician"], [registrant["id"]], sub="clinician-1"))


async def test_create_answers_201_with_location_and_reads_back(client, registrant, clinician):
    body = patient_body(registrant["id"], external_id="MRN-0001", weight_kg="70.5")
    response = await client.post("/v1/patients", json=body, headers=bearer(clinician))
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/v1/patients/{created['id']}"
    assert created["external_id"] == "MRN-0001"
    assert created["weight_kg"] == "70.5"
    assert created["address"]["state"] == "TX"
    assert created["version"] == 1

    fetched = await client.get(response.headers["location"], headers=bearer(clinician))
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_weight_given_as_a_number_is_refused_with_the_string_to_send(
    client, registrant, clinician, probe
):
    response = await assert_refused(
        client, probe, "POST", "/v1/patients", status=422, problem=INVALID_INPUT,
        subject="clinician-1", headers=bearer(clinician),
        json=patient_body(registrant["id"], weight_kg=82.25), pointer="#/weight_kg",
    )  # fmt: skip
    assert 'such as "82.25"' in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("field", "name"),
    [("given_name", "Ada\x00"), ("family_name", "Love\x00lace"), ("given_name", "Ada\x1b[2J"),
     ("family_name", "Love\nlace")],
    ids=["NUL at the end", "NUL inside", "an escape sequence", "a line feed"],
)  # fmt: skip
async def test_a_name_with_a_control_character_is_refused(
    client, registrant, clinician, probe, field, name
):
    await assert_refused(
        client, probe, "POST", "/v1/patients", status=422, problem=INVALID_INPUT,
        subject="clinician-1", headers=bearer(clinician),
        json=patient_body(registrant["id"], **{field: name}), pointer=f"#/{field}",
    )  # fmt: skip


async def test_a_changed_name_with_a_control_character_is_refused(
    client, registrant, clinician, probe
):
    patient = await create(client, "/v1/patients", patient_body(registrant["id"]), clinician)
    await assert_refused(
        client, probe, "PATCH", f"/v1/patients/{patient['id']}", status=422,
        problem=INVALID_INPUT, subject="clinician-1",
        headers=bearer(clinician) | {"If-Match": str(patient["version"])},
        json={"family_name": "Love\x00lace"}, pointer="#/family_name",
    )  # fmt: skip


async def test_weight_finer_than_thousandths_is_refused(client, registrant, clinician):
    response = await client.post(
        "/v1/patients",
        json=patient_body(registrant["id"], weight_kg="70.1234"),
        headers=bearer(clinician),
    )
    assert_problem(response, 422, "invalid-input", pointer="#/weight_kg")


async def test_external_id_is_unique_per_registrant(client, admin_token, token, registrant):
    other = await create_registrant(client, admin_token)
    clinician = token(["clinician"], [registrant["id"], other["id"]])
    await create(
        client, "/v1/patients", patient_body(registrant["id"], external_id="MRN-7"), clinician
    )
    await create(client, "/v1/patients", patient_body(other["id"], external_id="MRN-7"), clinician)
    response = await client.post(
        "/v1/patients",
        json=patient_body(registrant["id"], external_id="MRN-7", given_name="Other"),
        headers=bearer(clinician),
    )
    assert_problem(response, 409, "already-exists", pointer="#/external_id")


async def test_list_walks_every_patient_once_in_creation_order(
    client, registrant, clinician, clock
):
    created = []
    for _ in range(5):
        patient = await create(client, "/v1/patients", patient_body(registrant["id"]), clinician)
        created.append(patient["id"])
        clock.advance(timedelta(seconds=1))
    items = await walk_pages(client, "/v1/patients", clinician, limit=2)
    assert [item["id"] for item in items] == created


async def test_list_refuses_a_malformed_cursor(client, clinician):
    response = await client.get(
        "/v1/patients", params={"cursor": "...."}, headers=bearer(clinician)
    )
    assert_problem(response, 422, "invalid-input", parameter="cursor")


async def test_list_filters_by_registrant_and_external_id(client, admin_token, token, registrant):
    other = await create_registrant(client, admin_token)
    clinician = token(["clinician"], [registrant["id"], other["id"]])
    ours = await create(
        client, "/v1/patients", patient_body(registrant["id"], external_id="A-1"), clinician
    )
    await create(client, "/v1/patients", patient_body(registrant["id"]), clinician)
    theirs = await create(
        client, "/v1/patients", patient_body(other["id"], external_id="A-1"), clinician
    )

    async def ids(**params: str) -> set[str]:
        items = await walk_pages(client, "/v1/patients", clinician, limit=10, params=params)
        return {item["id"] for item in items}

    assert await ids(external_id="A-1") == {ours["id"], theirs["id"]}
    assert await ids(registrant_id=other["id"]) == {theirs["id"]}
    assert await ids(registrant_id=registrant["id"], external_id="A-1") == {ours["id"]}


async def test_another_registrants_patient_is_404(client, admin_token, token, registrant):
    other = await create_registrant(client, admin_token)
    outsider = token(["clinician"], [other["id"]])
    patient = await create(
        client,
        "/v1/patients",
        patient_body(registrant["id"]),
        token(["clinician"], [registrant["id"]]),
    )
    response = await client.get(f"/v1/patients/{patient['id']}", headers=bearer(outsider))
    assert_problem(response, 404, "not-found")
    listed = await walk_pages(client, "/v1/patients", outsider, limit=10)
    assert listed == []


async def test_admins_do_not_handle_patients(client, admin_token, registrant):
    response = await client.post(
        "/v1/patients", json=patient_body(registrant["id"]), headers=bearer(admin_token)
    )
    assert_problem(response, 403, "permission-denied")


async def test_patch_increments_version_and_keeps_history(client, registrant, clinician, clock):
    patient = await create(client, "/v1/patients", patient_body(registrant["id"]), clinician)
    clock.advance(timedelta(days=14))
    patched = await client.patch(
        f"/v1/patients/{patient['id']}", json={"weight_kg": "68"}, headers=bearer(clinician)
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["version"], patched.json()["weight_kg"]) == (2, "68")

    history = await client.get(f"/v1/patients/{patient['id']}/history", headers=bearer(clinician))
    assert history.status_code == 200
    versions = history.json()
    assert [(v["version"], v["data"]["weight_kg"]) for v in versions] == [(1, "70.5"), (2, "68")]
    assert versions[0]["changed_at"] != versions[1]["changed_at"]


async def test_patch_refuses_null_name_an_empty_body_and_unknown_fields(
    client, registrant, clinician
):
    patient = await create(client, "/v1/patients", patient_body(registrant["id"]), clinician)
    path = f"/v1/patients/{patient['id']}"
    nulled = await client.patch(path, json={"family_name": None}, headers=bearer(clinician))
    assert_problem(nulled, 422, "invalid-input", pointer="#/family_name")
    empty = await client.patch(path, json={}, headers=bearer(clinician))
    assert_problem(empty, 422, "invalid-input")
    unknown = await client.patch(path, json={"nickname": "Ada"}, headers=bearer(clinician))
    assert_problem(unknown, 422, "invalid-input", pointer="#/nickname")


@pytest.mark.parametrize("suffix", ["", "/history"])
async def test_reading_a_patient_is_audited_as_patient_read(
    client, registrant, clinician, audit_log, suffix
):
    patient = await create(client, "/v1/patients", patient_body(registrant["id"]), clinician)
    response = await client.get(f"/v1/patients/{patient['id']}{suffix}", headers=bearer(clinician))
    assert response.status_code == 200, response.text

    [row] = [r for r in await audit_log() if r["request_id"] == response.headers["x-request-id"]]
    assert row["kind"] == "patient_read"
    assert row["resource_id"] == patient["id"]
    assert str(row["registrant_id"]) == registrant["id"]
    assert row["status_code"] == 200


async def test_audit_rows_never_hold_the_patients_name(client, registrant, clinician, audit_log):
    body = patient_body(registrant["id"], given_name=GIVEN_NAME, family_name=FAMILY_NAME)
    patient = await create(client, "/v1/patients", body, clinician)
    path = f"/v1/patients/{patient['id']}"
    await client.patch(
        path, json={"family_name": FAMILY_NAME + "-Smith"}, headers=bearer(clinician)
    )
    await client.get(path, headers=bearer(clinician))
    await client.get(f"{path}/history", headers=bearer(clinician))
    await client.get(
        "/v1/patients", params={"external_id": body["external_id"]}, headers=bearer(clinician)
    )
    await client.post("/v1/patients", json=body, headers=bearer(clinician))  # refused: 409

    rows = await audit_log()
    assert {row["kind"] for row in rows} >= {"write", "patient_read", "refused"}
    for row in rows:
        text = repr(row).lower()
        assert GIVEN_NAME.lower() not in text
        assert FAMILY_NAME.lower() not in text


async def test_a_query_with_a_control_character_is_refused(client, registrant, clinician, probe):
    """A NUL reached PostgreSQL's text: a 500."""
    url = client.build_request(
        "GET", "/v1/patients", params={"registrant_id": registrant["id"], "external_id": "MRN\x00"}
    ).url
    await assert_refused(
        client, probe, "GET", str(url), status=422, problem=INVALID_INPUT,
        subject="clinician-1", headers=bearer(clinician), parameter="external_id",
    )  # fmt: skip
