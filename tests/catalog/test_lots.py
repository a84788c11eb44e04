"""Lots of a product: numbers unique per product, expiry filters, tenancy."""

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import bearer
from tests.factories import assert_problem, create, create_registrant, injection_body, walk_pages


@pytest.fixture
async def registrant(client, admin_token) -> dict[str, Any]:
    return await create_registrant(client, admin_token)


@pytest.fixture
def clinician(token, registrant) -> str:
    return str(token(["clinician"], [registrant["id"]]))


@pytest.fixture
async def product(client, registrant, clinician) -> dict[str, Any]:
    return await create(client, "/v1/products", injection_body(registrant["id"]), clinician)


def lots_path(product: dict[str, Any]) -> str:
    return f"/v1/products/{product['id']}/lots"


async def test_create_answers_201_with_location_and_reads_back(
    client, registrant, product, clinician
):
    response = await client.post(
        lots_path(product),
        json={"lot_number": "7A21K", "expires_on": "2027-09-30"},
        headers=bearer(clinician),
    )
    assert response.status_code == 201, response.text
    lot = response.json()
    assert response.headers["location"] == f"{lots_path(product)}/{lot['id']}"
    assert (lot["lot_number"], lot["expires_on"]) == ("7A21K", "2027-09-30")
    assert (lot["product_id"], lot["registrant_id"]) == (product["id"], registrant["id"])

    fetched = await client.get(response.headers["location"], headers=bearer(clinician))
    assert fetched.status_code == 200
    assert fetched.json() == lot


async def test_duplicate_lot_number_of_a_product_is_409(client, registrant, product, clinician):
    other_product = await create(
        client,
        "/v1/products",
        injection_body(registrant["id"], ndc="0409-2053-10", name="Ketamine 100 mg/mL"),
        clinician,
    )
    body = {"lot_number": "7A21K", "expires_on": "2027-09-30"}
    await create(client, lots_path(product), body, clinician)
    await create(client, lots_path(other_product), body, clinician)
    response = await client.post(lots_path(product), json=body, headers=bearer(clinician))
    assert_problem(response, 409, "already-exists", pointer="#/lot_number")


async def test_list_filters_by_lot_number_and_expiry(client, product, clinician, clock):
    numbers = {}
    for number, expires_on in [("L1", "2026-06-30"), ("L2", "2027-01-31"), ("L3", "2028-12-31")]:
        lot = await create(
            client, lots_path(product), {"lot_number": number, "expires_on": expires_on}, clinician
        )
        numbers[lot["id"]] = number
        clock.advance(timedelta(seconds=1))

    async def listed(**params: str) -> list[str]:
        items = await walk_pages(client, lots_path(product), clinician, limit=2, params=params)
        return [numbers[item["id"]] for item in items]

    assert await listed() == ["L1", "L2", "L3"]
    assert await listed(lot_number="L2") == ["L2"]
    assert await listed(expires_before="2027-01-31") == ["L1"]
    assert await listed(expires_before="2029-01-01") == ["L1", "L2", "L3"]


async def test_lot_of_another_registrants_product_is_404(
    client, admin_token, token, product, clinician
):
    other = await create_registrant(client, admin_token)
    outsider = token(["clinician"], [other["id"]])
    lot = await create(
        client, lots_path(product), {"lot_number": "X1", "expires_on": "2027-01-31"}, clinician
    )
    created = await client.post(
        lots_path(product),
        json={"lot_number": "X2", "expires_on": "2027-01-31"},
        headers=bearer(outsider),
    )
    assert_problem(created, 404, "not-found")
    listed = await client.get(lots_path(product), headers=bearer(outsider))
    assert_problem(listed, 404, "not-found")
    fetched = await client.get(f"{lots_path(product)}/{lot['id']}", headers=bearer(outsider))
    assert_problem(fetched, 404, "not-found")


async def test_lot_under_the_wrong_product_is_404(client, registrant, product, clinician):
    other_product = await create(
        client,
        "/v1/products",
        injection_body(registrant["id"], ndc="0409-2053-10", name="Ketamine 100 mg/mL"),
        clinician,
    )
    lot = await create(
        client, lots_path(product), {"lot_number": "X1", "expires_on": "2027-01-31"}, clinician
    )
    response = await client.get(
        f"{lots_path(other_product)}/{lot['id']}", headers=bearer(clinician)
    )
    assert_problem(response, 404, "not-found")


async def test_lot_needs_a_number_and_an_expiry(client, product, clinician):
    response = await client.post(
        lots_path(product), json={"lot_number": ""}, headers=bearer(clinician)
    )
    body = assert_problem(response, 422, "invalid-input")
    assert {e["pointer"] for e in body["errors"]} == {"#/lot_number", "#/expires_on"}
