"""Staff of a registrant, their token subjects, NPIs and DEA registrations."""

from datetime import timedelta

from tests.conftest import bearer
from tests.factories import (
    assert_problem,
    create,
    create_registrant,
    staff_body,
    staff_registration_body,
    walk_pages,
)


def staff_path(registrant: dict[str, str]) -> str:
    return f"/v1/registrants/{registrant['id']}/staff"


async def test_create_answers_201_with_location_and_reads_back(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    body = staff_body(subject="idp|grace", state_license="TX-MD-1234")
    response = await client.post(staff_path(registrant), json=body, headers=bearer(admin_token))
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"{staff_path(registrant)}/{created['id']}"
    assert created["subject"] == "idp|grace"
    assert created["npi"] == "1245319599"
    assert created["active"] is True
    assert created["version"] == 1

    fetched = await client.get(response.headers["location"], headers=bearer(admin_token))
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_npi_with_a_bad_check_digit_is_refused(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    response = await client.post(
        staff_path(registrant), json=staff_body(npi="1245319598"), headers=bearer(admin_token)
    )
    assert_problem(response, 422, "invalid-input", pointer="#/npi")


async def test_subject_is_unique_per_registrant(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    other = await create_registrant(client, admin_token)
    await create(client, staff_path(registrant), staff_body(subject="idp|ada"), admin_token)
    await create(client, staff_path(other), staff_body(subject="idp|ada"), admin_token)
    response = await client.post(
        staff_path(registrant),
        json=staff_body(subject="idp|ada", name="Someone Else"),
        headers=bearer(admin_token),
    )
    assert_problem(response, 409, "already-exists", pointer="#/subject")


async def test_staff_without_a_subject_do_not_collide(client, admin_token):
    """Not everyone logs in (a witness from another practice, say): no subject, no conflict."""
    registrant = await create_registrant(client, admin_token)
    for _ in range(2):
        await create(client, staff_path(registrant), staff_body(subject=None), admin_token)


async def test_list_walks_every_staff_member_once_in_creation_order(client, admin_token, clock):
    registrant = await create_registrant(client, admin_token)
    created = []
    for _ in range(5):
        created.append(
            (await create(client, staff_path(registrant), staff_body(), admin_token))["id"]
        )
        clock.advance(timedelta(seconds=1))
    items = await walk_pages(client, staff_path(registrant), admin_token, limit=2)
    assert [item["id"] for item in items] == created


async def test_list_refuses_a_malformed_cursor(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    response = await client.get(
        staff_path(registrant), params={"cursor": "bm9wZQ"}, headers=bearer(admin_token)
    )
    assert_problem(response, 422, "invalid-input", parameter="cursor")


async def test_list_filters_by_role_subject_and_active(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    path = staff_path(registrant)
    prescriber = await create(client, path, staff_body(role="prescriber"), admin_token)
    nurse = await create(client, path, staff_body(role="nurse", npi=None), admin_token)
    retired = await create(client, path, staff_body(role="nurse", active=False), admin_token)

    async def ids(**params: str) -> set[str]:
        items = await walk_pages(client, path, admin_token, limit=10, params=params)
        return {item["id"] for item in items}

    assert await ids(role="nurse") == {nurse["id"], retired["id"]}
    assert await ids(subject=prescriber["subject"]) == {prescriber["id"]}
    assert await ids(active="false") == {retired["id"]}


async def test_patch_keeps_every_version_in_the_history(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    staff = await create(client, staff_path(registrant), staff_body(), admin_token)
    path = f"{staff_path(registrant)}/{staff['id']}"
    patched = await client.patch(path, json={"active": False}, headers=bearer(admin_token))
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2

    history = await client.get(f"{path}/history", headers=bearer(admin_token))
    assert history.status_code == 200
    assert [(v["version"], v["data"]["active"]) for v in history.json()] == [
        (1, True),
        (2, False),
    ]


async def test_patch_refuses_null_role(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    staff = await create(client, staff_path(registrant), staff_body(), admin_token)
    response = await client.patch(
        f"{staff_path(registrant)}/{staff['id']}", json={"role": None}, headers=bearer(admin_token)
    )
    assert_problem(response, 422, "invalid-input", pointer="#/role")


async def test_registration_renewal_keeps_both_in_order(client, admin_token, clock):
    registrant = await create_registrant(client, admin_token)
    staff = await create(client, staff_path(registrant), staff_body(), admin_token)
    path = f"{staff_path(registrant)}/{staff['id']}/registrations"
    first = staff_registration_body(expires_on="2026-04-30")
    renewal = staff_registration_body(dea_number=first["dea_number"], expires_on="2029-04-30")
    for body in (first, renewal):
        response = await client.post(path, json=body, headers=bearer(admin_token))
        assert response.status_code == 201, response.text
        read = await client.get(response.headers["location"], headers=bearer(admin_token))
        assert read.json() == response.json()
        clock.advance(timedelta(days=1))

    listed = await client.get(path, headers=bearer(admin_token))
    assert listed.status_code == 200
    registrations = listed.json()
    assert [r["expires_on"] for r in registrations] == ["2026-04-30", "2029-04-30"]
    assert {r["dea_number"] for r in registrations} == {first["dea_number"]}
    assert {r["created_by"] for r in registrations} == {"platform-admin"}
    assert {r["staff_id"] for r in registrations} == {staff["id"]}


async def test_registration_with_a_bad_dea_number_is_refused(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    staff = await create(client, staff_path(registrant), staff_body(), admin_token)
    response = await client.post(
        f"{staff_path(registrant)}/{staff['id']}/registrations",
        json=staff_registration_body(dea_number="AP5836728"),
        headers=bearer(admin_token),
    )
    assert_problem(response, 422, "invalid-input", pointer="#/dea_number")


async def test_staff_under_another_registrant_is_404(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    other = await create_registrant(client, admin_token)
    staff = await create(client, staff_path(registrant), staff_body(), admin_token)
    response = await client.get(
        f"{staff_path(other)}/{staff['id']}/registrations", headers=bearer(admin_token)
    )
    assert_problem(response, 404, "not-found")
