"""Products: an NDC product or a compound formula, with its controlled-substance facts."""

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from app.catalog.schemas import ProductCreate
from tests.conftest import bearer
from tests.factories import (
    assert_problem,
    create,
    create_registrant,
    injection_body,
    nasal_spray_body,
    troche_body,
    walk_pages,
)


@pytest.fixture
async def registrant(client, admin_token) -> dict[str, Any]:
    return await create_registrant(client, admin_token)


@pytest.fixture
def pharmacist(token, registrant) -> str:
    return str(token(["pharmacist"], [registrant["id"]]))


async def refused(
    client: httpx.AsyncClient, body: dict[str, Any], token_value: str
) -> dict[str, Any]:
    response = await client.post("/v1/products", json=body, headers=bearer(token_value))
    return assert_problem(response, 422, "invalid-input")


@pytest.mark.parametrize(
    ("given", "eleven", "formatted"),
    [
        ("0409-2051-05", "00409205105", "00409-2051-05"),
        ("50458-028-02", "50458002802", "50458-0028-02"),
        ("12345-6789-1", "12345678901", "12345-6789-01"),
        ("00409205105", "00409205105", "00409-2051-05"),
    ],
    ids=["4-4-2", "5-3-2", "5-4-1", "11-digits"],
)
async def test_ndc_is_stored_as_eleven_digits(
    client, registrant, pharmacist, given, eleven, formatted
):
    response = await client.post(
        "/v1/products", json=injection_body(registrant["id"], ndc=given), headers=bearer(pharmacist)
    )
    assert response.status_code == 201, response.text
    product = response.json()
    assert response.headers["location"] == f"/v1/products/{product['id']}"
    assert (product["ndc"], product["ndc_formatted"]) == (eleven, formatted)

    fetched = await client.get(response.headers["location"], headers=bearer(pharmacist))
    assert fetched.status_code == 200
    assert fetched.json() == product


async def test_injection_reads_back_with_its_strength_and_units(client, registrant, pharmacist):
    product = await create(client, "/v1/products", injection_body(registrant["id"]), pharmacist)
    assert product["strength"] == {"value": "50", "unit": "mg/mL", "basis": "base"}
    assert (product["inventory_unit"], product["package_size"]) == ("mL", "10")
    assert product["mg_per_unit"] == "50"
    assert (product["compound_code"], product["ingredients"]) == (None, [])


async def test_ten_digit_ndc_without_dashes_is_refused(client, registrant, pharmacist):
    response = await client.post(
        "/v1/products",
        json=injection_body(registrant["id"], ndc="0409205105"),
        headers=bearer(pharmacist),
    )
    assert_problem(response, 422, "invalid-input", pointer="#/ndc")


@pytest.mark.parametrize(
    ("substance", "body"),
    [("ketamine", injection_body), ("esketamine", nasal_spray_body)],
)
async def test_dea_code_and_schedule_are_derived_from_the_substance(
    client, registrant, pharmacist, substance, body
):
    product = await create(client, "/v1/products", body(registrant["id"]), pharmacist)
    assert product["substance"] == substance
    assert (product["dea_code"], product["schedule"]) == ("7285", "3N")


async def test_client_cannot_set_dea_code_or_schedule(client, registrant, pharmacist):
    body = injection_body(registrant["id"], dea_code="9999", schedule="2")
    body_errors = (await refused(client, body, pharmacist))["errors"]
    assert {e["pointer"] for e in body_errors} == {"#/dea_code", "#/schedule"}


async def test_compound_lists_its_ingredients_in_order(client, registrant, pharmacist):
    body = troche_body(registrant["id"])
    product = await create(client, "/v1/products", body, pharmacist)
    assert (product["compound_code"], product["ndc"], product["ndc_formatted"]) == (
        body["compound_code"],
        None,
        None,
    )
    assert product["dosage_form"] == "troche"
    assert [(i["name"], i["quantity"], i["unit"]) for i in product["ingredients"]] == [
        ("Ketamine HCl powder", "115.3", "mg"),
        ("Troche base", "0.9", "g"),
        ("Stevia flavouring", "2.5", "mg"),
    ]
    fetched = await client.get(f"/v1/products/{product['id']}", headers=bearer(pharmacist))
    assert fetched.json()["ingredients"] == product["ingredients"]


async def test_a_rule_of_the_body_is_refused_as_a_problem(client, registrant, pharmacist):
    """The body rules below answer like any invalid input: 422 problem+json, nothing written."""
    body = injection_body(registrant["id"], inventory_unit="each")
    problem = await refused(client, body, pharmacist)
    assert "injection is counted in mL" in problem["detail"]
    listed = await walk_pages(client, "/v1/products", pharmacist, limit=10)
    assert listed == []


# Rules of the request body, checked on the schema itself (no database needed).

ANY_REGISTRANT = str(uuid.uuid4())


def assert_body_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ProductCreate.model_validate(body)


def test_ndc_and_compound_code_together_are_refused():
    body = troche_body(ANY_REGISTRANT, ndc="0409-2051-05")
    assert_body_refused(body, "either an ndc or a compound_code")


def test_neither_ndc_nor_compound_code_is_refused():
    assert_body_refused(
        injection_body(ANY_REGISTRANT, ndc=None), "either an ndc or a compound_code"
    )


def test_compound_without_ingredients_is_refused():
    assert_body_refused(troche_body(ANY_REGISTRANT, ingredients=[]), "lists its ingredients")


def test_ndc_product_with_ingredients_is_refused():
    ingredients = troche_body(ANY_REGISTRANT)["ingredients"]
    body = injection_body(ANY_REGISTRANT, ingredients=ingredients)
    assert_body_refused(body, "an NDC product has none")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"inventory_unit": "each"}, "injection is counted in mL"),
        ({"dosage_form": "nasal_spray"}, "nasal_spray is counted in device"),
        ({"strength": {"value": "50", "unit": "mg", "basis": "base"}}, "is in mg/mL"),
        ({"strength": {"value": "50", "unit": "mg/g", "basis": "base"}}, "is in mg/mL"),
    ],
    ids=["injection-in-each", "spray-in-mL", "injection-strength-in-mg", "mL-strength-in-mg/g"],
)
def test_form_unit_and_strength_unit_must_agree(overrides, message):
    assert_body_refused(injection_body(ANY_REGISTRANT, **overrides), message)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strength": {"value": "0", "unit": "mg/mL", "basis": "base"}}, "greater than zero"),
        ({"package_size": "-1"}, "never negative"),
    ],
    ids=["zero-strength", "negative-package"],
)
def test_strength_and_package_size_must_be_positive(overrides, message):
    assert_body_refused(injection_body(ANY_REGISTRANT, **overrides), message)


@pytest.mark.parametrize(
    "body",
    [
        injection_body(ANY_REGISTRANT),
        nasal_spray_body(ANY_REGISTRANT),
        troche_body(ANY_REGISTRANT),
        troche_body(ANY_REGISTRANT, dosage_form="capsule"),
        troche_body(ANY_REGISTRANT, dosage_form="rapid_dissolve_tablet"),
    ],
    ids=["injection", "nasal-spray", "troche", "capsule", "rapid-dissolve-tablet"],
)
def test_bodies_whose_units_agree_are_accepted(body):
    ProductCreate.model_validate(body)


async def test_duplicate_ndc_is_409_per_registrant(client, admin_token, token, registrant):
    other = await create_registrant(client, admin_token)
    pharmacist = token(["pharmacist"], [registrant["id"], other["id"]])
    await create(client, "/v1/products", injection_body(registrant["id"]), pharmacist)
    await create(client, "/v1/products", injection_body(other["id"]), pharmacist)
    response = await client.post(
        "/v1/products",
        json=injection_body(registrant["id"], ndc="00409-2051-05", name="Same NDC, 5-4-2"),
        headers=bearer(pharmacist),
    )
    assert_problem(response, 409, "already-exists", pointer="#/ndc")


async def test_duplicate_compound_code_is_409(client, registrant, pharmacist):
    first = await create(client, "/v1/products", troche_body(registrant["id"]), pharmacist)
    response = await client.post(
        "/v1/products",
        json=troche_body(registrant["id"], compound_code=first["compound_code"]),
        headers=bearer(pharmacist),
    )
    assert_problem(response, 409, "already-exists", pointer="#/compound_code")


async def test_list_walks_every_product_once_in_creation_order(
    client, registrant, pharmacist, clock
):
    created = []
    for _ in range(3):
        product = await create(client, "/v1/products", troche_body(registrant["id"]), pharmacist)
        created.append(product["id"])
        clock.advance(timedelta(seconds=1))
    items = await walk_pages(client, "/v1/products", pharmacist, limit=2)
    assert [item["id"] for item in items] == created
    assert all(len(item["ingredients"]) == 3 for item in items)


async def test_list_filters_by_ndc_compound_code_and_dosage_form(client, registrant, pharmacist):
    injection = await create(client, "/v1/products", injection_body(registrant["id"]), pharmacist)
    spray = await create(client, "/v1/products", nasal_spray_body(registrant["id"]), pharmacist)
    troche = await create(client, "/v1/products", troche_body(registrant["id"]), pharmacist)

    async def ids(**params: str) -> list[str]:
        items = await walk_pages(client, "/v1/products", pharmacist, limit=10, params=params)
        return [item["id"] for item in items]

    assert await ids(ndc="0409-2051-05") == [injection["id"]]
    assert await ids(ndc="50458002802") == [spray["id"]]
    assert await ids(compound_code=troche["compound_code"]) == [troche["id"]]
    assert await ids(dosage_form="nasal_spray") == [spray["id"]]
    assert await ids(registrant_id=registrant["id"], dosage_form="capsule") == []


async def test_list_refuses_an_ambiguous_ndc_filter(client, pharmacist):
    response = await client.get(
        "/v1/products", params={"ndc": "0409205105"}, headers=bearer(pharmacist)
    )
    assert_problem(response, 422, "invalid-input", parameter="ndc")


async def test_another_registrants_product_is_404(
    client, admin_token, token, registrant, pharmacist
):
    product = await create(client, "/v1/products", injection_body(registrant["id"]), pharmacist)
    other = await create_registrant(client, admin_token)
    outsider = token(["pharmacist"], [other["id"]])
    response = await client.get(f"/v1/products/{product['id']}", headers=bearer(outsider))
    assert_problem(response, 404, "not-found")
    assert await walk_pages(client, "/v1/products", outsider, limit=10) == []
