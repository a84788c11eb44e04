"""Locations of a registrant: where stock is kept."""

from datetime import timedelta

from tests.conftest import bearer
from tests.factories import assert_problem, create, create_registrant, location_body, walk_pages


def locations_path(registrant: dict[str, str]) -> str:
    return f"/v1/registrants/{registrant['id']}/locations"


async def test_create_answers_201_with_location_and_reads_back(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    response = await client.post(
        locations_path(registrant),
        json={"name": "Main vault", "kind": "vault"},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"{locations_path(registrant)}/{created['id']}"
    assert created["registrant_id"] == registrant["id"]
    assert (created["name"], created["kind"], created["active"]) == ("Main vault", "vault", True)

    fetched = await client.get(response.headers["location"], headers=bearer(admin_token))
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_a_compliance_officer_of_the_registrant_creates_locations(client, admin_token, token):
    registrant = await create_registrant(client, admin_token)
    officer = token(["compliance_officer"], [registrant["id"]])
    await create(client, locations_path(registrant), location_body(), officer)


async def test_in_use_holding_is_refused_on_create(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    response = await client.post(
        locations_path(registrant),
        json=location_body(kind="in_use"),
        headers=bearer(admin_token),
    )
    assert_problem(response, 422, "invalid-input", pointer="#/kind")


async def test_name_is_unique_per_registrant(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    other = await create_registrant(client, admin_token)
    await create(client, locations_path(registrant), location_body(name="Vault A"), admin_token)
    await create(client, locations_path(other), location_body(name="Vault A"), admin_token)
    response = await client.post(
        locations_path(registrant),
        json=location_body(name="Vault A", kind="cabinet"),
        headers=bearer(admin_token),
    )
    assert_problem(response, 409, "already-exists", pointer="#/name")


async def test_rename_to_a_taken_name_is_409(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    await create(client, locations_path(registrant), location_body(name="Vault A"), admin_token)
    cabinet = await create(client, locations_path(registrant), location_body(), admin_token)
    response = await client.patch(
        f"{locations_path(registrant)}/{cabinet['id']}",
        json={"name": "Vault A"},
        headers=bearer(admin_token),
    )
    assert_problem(response, 409, "already-exists", pointer="#/name")


async def test_deactivate_and_filter_by_kind_and_active(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    path = locations_path(registrant)
    vault = await create(client, path, location_body(kind="vault"), admin_token)
    cabinet = await create(client, path, location_body(kind="cabinet"), admin_token)
    room = await create(client, path, location_body(kind="procedure_room"), admin_token)
    patched = await client.patch(
        f"{path}/{room['id']}", json={"active": False}, headers=bearer(admin_token)
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False

    async def ids(**params: str) -> set[str]:
        items = await walk_pages(client, path, admin_token, limit=10, params=params)
        return {item["id"] for item in items}

    assert await ids(kind="cabinet") == {cabinet["id"]}
    assert await ids(active="true") == {vault["id"], cabinet["id"]}
    assert await ids(active="false") == {room["id"]}


async def test_list_walks_every_location_once_in_creation_order(client, admin_token, clock):
    registrant = await create_registrant(client, admin_token)
    created = []
    for _ in range(5):
        location = await create(client, locations_path(registrant), location_body(), admin_token)
        created.append(location["id"])
        clock.advance(timedelta(seconds=1))
    items = await walk_pages(client, locations_path(registrant), admin_token, limit=2)
    assert [item["id"] for item in items] == created


async def test_list_refuses_a_malformed_cursor(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    response = await client.get(
        locations_path(registrant), params={"cursor": "%%%"}, headers=bearer(admin_token)
    )
    assert_problem(response, 422, "invalid-input", parameter="cursor")


async def test_patch_refuses_null_name_and_an_empty_body(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    location = await create(client, locations_path(registrant), location_body(), admin_token)
    path = f"{locations_path(registrant)}/{location['id']}"
    nulled = await client.patch(path, json={"name": None}, headers=bearer(admin_token))
    assert_problem(nulled, 422, "invalid-input", pointer="#/name")
    empty = await client.patch(path, json={}, headers=bearer(admin_token))
    assert_problem(empty, 422, "invalid-input")


async def test_a_location_under_another_registrant_is_404(client, admin_token):
    registrant = await create_registrant(client, admin_token)
    other = await create_registrant(client, admin_token)
    location = await create(client, locations_path(registrant), location_body(), admin_token)
    response = await client.get(
        f"{locations_path(other)}/{location['id']}", headers=bearer(admin_token)
    )
    assert_problem(response, 404, "not-found")
