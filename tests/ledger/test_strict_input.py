"""The ledger takes numbers, instants and text of one strict grammar, or refuses them.

Each input here was once taken (``"1_000"`` stored as 1,000 units) or answered 500; each is
now a 422 problem pointing at what is wrong, and writes nothing but its audit row.
"""

import itertools
import json
from typing import Any

import orjson
import pytest

from tests.conftest import bearer
from tests.factories import assert_refused, create, staff_body
from tests.ledger.conftest import Clinic

_KEYS = itertools.count(1)
INVALID = "urn:csledger:problem:invalid-input"


async def refused(
    clinic: Clinic, probe, *, body: dict[str, Any] | None = None, content: bytes | None = None,
    pointer: str, path: str = "/v1/ledger/events",
) -> dict[str, Any]:  # fmt: skip
    headers = bearer(clinic.nurse_token) | {"Idempotency-Key": f"strict-{next(_KEYS)}"}
    response = await assert_refused(
        clinic.client, probe, "POST", path, status=422, problem=INVALID, subject="nurse-1",
        headers=headers, json=body, content=content, pointer=pointer,
    )  # fmt: skip
    problem: dict[str, Any] = response.json()
    return problem


QUANTITIES = {
    "underscore": "1_000",
    "fullwidth digit": "\uff11",
    "arabic-indic digit": "\u0661",
    "leading space": " 1",
    "trailing newline": "1\n",
    "exponent": "1e3",
    "exponent past a float": "1e308",
    "exponent past everything": "1e1000",
    "one and a hundred zeros": "1" + "0" * 100,
    "23 digits": "99999999999999999999999",
    "int64 max": "9223372036854775807",
    "int64 max in thousandths": "9223372036854775.808",
    "just above the bound": "10000000",
    "four decimals": "1.0005",
    "a sign": "+1",
    "a leading zero": "01",
    "no digit before the point": ".5",
    "no digit after the point": "1.",
    "a comma": "1,5",
    "infinity": "Infinity",
    "not a number": "NaN",
}


@pytest.mark.parametrize("quantity", QUANTITIES.values(), ids=QUANTITIES.keys())
async def test_a_quantity_outside_the_grammar_is_refused(clinic, probe, quantity):
    await refused(clinic, probe, body=clinic.event("receipt", quantity), pointer="#/quantity")


NUMBERS = {"1e40": 1e40, "one": 1, "a half": 0.5, "true": True}


@pytest.mark.parametrize("quantity", NUMBERS.values(), ids=NUMBERS.keys())
async def test_a_quantity_sent_as_a_json_number_is_refused_with_what_to_send(
    clinic, probe, quantity
):
    problem = await refused(
        clinic, probe, body=clinic.event("receipt", quantity=quantity), pointer="#/quantity"
    )
    assert "decimal string" in problem["errors"][0]["detail"]


async def test_the_largest_quantity_is_taken_and_shown_as_sent(clinic):
    response = await clinic.post(clinic.event("receipt", "9999999.999"))
    assert response.status_code == 201, response.text
    assert response.json()["quantity"] == "9999999.999"


INSTANTS = {
    "year one": "0001-01-01T00:00:00Z",
    "year 388": "0388-06-25T20:09:05Z",
    "before the range": "1999-12-31T23:59:59Z",
    "after the range": "2100-01-01T00:00:00Z",
    "an offset with seconds": "2026-03-02T14:00:00-00:00:36",
    "no offset": "2026-03-02T14:00:00",
    "no seconds": "2026-03-02T14:00Z",
    "a date alone": "2026-03-02",
    "basic format": "20260302T140000Z",
    "an ordinal date": "2026-061T14:00:00Z",
    "a week date": "2026-W10-1T14:00:00Z",
    "an offset without a colon": "2026-03-02T14:00:00+0000",
    "finer than microseconds": "2026-03-02T14:00:00.1234567Z",
    "a leading space": " 2026-03-02T14:00:00Z",
    "fullwidth digits": "\uff12026-03-02T14:00:00Z",
}


@pytest.mark.parametrize("instant", INSTANTS.values(), ids=INSTANTS.keys())
async def test_an_instant_outside_rfc_3339_or_the_range_is_refused(clinic, probe, instant):
    await refused(
        clinic, probe, body=clinic.event("receipt", occurred_at=instant), pointer="#/occurred_at"
    )


async def test_an_instant_sent_as_a_number_is_refused(clinic, probe):
    await refused(
        clinic, probe, body=clinic.event("receipt", occurred_at=1772460000),
        pointer="#/occurred_at",
    )  # fmt: skip


async def test_rfc_3339_with_a_space_lower_case_letters_and_an_offset_is_taken(clinic):
    response = await clinic.post(clinic.event("receipt", occurred_at="2026-03-02 08:50:00.5-06:00"))
    assert response.status_code == 201, response.text
    assert response.json()["occurred_at"].startswith("2026-03-02T14:50:00.5")
    lower = await clinic.post(clinic.event("receipt", occurred_at="2026-03-02t14:51:00z"))
    assert lower.status_code == 201, lower.text


QUERY_INSTANTS = {
    "year 388": "0388-06-25T20:09:05Z",
    "year 388 with an offset in seconds": "0388-06-25T14:18:28.945952-05:50:36",
    "no offset": "2026-03-02T14:00:00",
    "a date alone": "2026-03-02",
    "a number": "1772460000",
    "after the range": "2100-01-01T00:00:00Z",
}


@pytest.mark.parametrize("instant", QUERY_INSTANTS.values(), ids=QUERY_INSTANTS.keys())
@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/ledger/balances", "as_of"),
        ("/v1/ledger/events", "occurred_from"),
        ("/v1/ledger/events", "occurred_to"),
    ],
)
async def test_an_instant_in_a_query_is_held_to_the_same_grammar(
    clinic, probe, path, parameter, instant
):
    query = {"registrant_id": clinic.registrant.id, parameter: instant}
    url = clinic.client.build_request("GET", path, params=query).url
    await assert_refused(
        clinic.client, probe, "GET", str(url), status=422, problem=INVALID, subject="nurse-1",
        headers=bearer(clinic.nurse_token), parameter=parameter,
    )  # fmt: skip


TEXT = {
    "NUL in document_reference": ({"document_reference": "INV-\x001"}, "#/document_reference"),
    "NUL in a reason": ({"reason": "found \x00 in the vault"}, "#/reason"),
    "a newline in document_reference": ({"document_reference": "INV-1\n"}, "#/document_reference"),
    "DEL in document_reference": ({"document_reference": "INV\x7f1"}, "#/document_reference"),
    "a C1 control in a reason": ({"reason": "found\x85here"}, "#/reason"),
    "a lone surrogate in a reason": ({"reason": "found \ud800 here"}, "#/reason"),
    "a right-to-left override in document_reference": (
        {"document_reference": "INV-\u202e1-99"},
        "#/document_reference",
    ),
}


@pytest.mark.parametrize(("fields", "pointer"), TEXT.values(), ids=TEXT.keys())
async def test_text_with_a_control_character_is_refused(clinic, probe, fields, pointer):
    # The json module escapes what it writes, a lone surrogate too (which orjson refuses).
    body = json.dumps(clinic.event("receipt") | fields).encode()
    await refused(clinic, probe, content=body, pointer=pointer)


async def test_a_control_character_in_a_nested_field_is_pointed_at(clinic, probe):
    body = clinic.event("receipt")
    body["counterparty"] = body["counterparty"] | {"name": "Midwest\x00Pharma"}
    await refused(clinic, probe, body=body, pointer="#/counterparty/name")


async def test_a_reason_may_run_over_several_lines(clinic):
    await clinic.post(clinic.event("receipt", "10"))
    adjusted = clinic.event(
        "adjust", "1", adjust_direction="decrease",
        reason="Recount after the audit:\r\n\tone vial short.\nSee the log.",
    )  # fmt: skip
    response = await clinic.post(adjusted, clinic.officer_token)
    assert response.status_code == 201, response.text
    assert response.json()["reason"] == adjusted["reason"]


@pytest.mark.parametrize(
    "packages", [1e40, 9999999999999999999, 10**6 + 1, 1.5, "1", "1_000", True]
)
async def test_a_count_of_packages_is_a_bounded_json_integer(clinic, probe, admin_token, packages):
    """A destruction witnessed by two, as it must be, so that only the count is wrong."""
    second = await create(
        clinic.client, f"/v1/registrants/{clinic.registrant.id}/staff",
        staff_body(role="nurse", subject="nurse-3", name="Tess Third"), admin_token,
    )  # fmt: skip
    await clinic.post(clinic.event("receipt", "10"))
    destruction = {"method": "incineration", "place": "reverse distributor",
                   "full_packages": packages, "partial_packages": 1}  # fmt: skip
    body = clinic.event("destroy", "1", witness_ids=[clinic.witness.id, second["id"]],
                        destruction=destruction)  # fmt: skip
    await refused(clinic, probe, body=body, pointer="#/destruction/full_packages")


async def test_a_body_that_is_not_json_is_refused_saying_where(clinic, probe):
    """The whole body is at fault, at a line and column: not a field, nor an offset."""
    body = orjson.dumps(clinic.event("receipt", "1"), option=orjson.OPT_INDENT_2).decode()
    broken = body.replace('"type": "receipt",', '"type": "receipt"', 1)
    problem = await refused(clinic, probe, content=broken.encode(), pointer="#")
    assert problem["detail"].endswith("at line 4, column 3"), problem["detail"]


async def test_a_key_given_twice_is_refused_not_last_one_wins(clinic, probe):
    body = orjson.dumps(clinic.event("receipt", "1")).decode()
    twice = body[:-1] + ', "quantity": "1000"}'
    await refused(clinic, probe, content=twice.encode(), pointer="#/quantity")


async def test_a_key_given_twice_in_a_nested_object_is_pointed_at(clinic, probe):
    body = clinic.event("receipt")
    text = orjson.dumps(body).decode().replace('"name":', '"name":"Other","name":', 1)
    await refused(clinic, probe, content=text.encode(), pointer="#/counterparty/name")


async def test_a_key_given_twice_in_a_batch_is_pointed_at(clinic, probe):
    first = orjson.dumps(clinic.event("receipt", "1")).decode()
    twice = first[:-1] + ', "quantity": "1000"}'
    batch = f'{{"events": [{orjson.dumps(clinic.event("receipt")).decode()}, {twice}]}}'
    await refused(
        clinic, probe, content=batch.encode(), pointer="#/events/1/quantity",
        path="/v1/ledger/events:batch",
    )  # fmt: skip


@pytest.mark.parametrize("value", ["1_0", " 10", "+10", "\uff11\uff10", "1e1"])
@pytest.mark.parametrize(
    ("path", "parameter"),
    [("/v1/ledger/events", "limit"), ("/v1/ledger/proofs/consistency", "from")],
)
async def test_an_integer_in_a_query_is_written_in_ascii_digits(
    clinic, probe, path, parameter, value
):
    query = {"registrant_id": clinic.registrant.id, "from": "1", "to": "1", parameter: value}
    url = clinic.client.build_request("GET", path, params=query).url
    await assert_refused(
        clinic.client, probe, "GET", str(url), status=422, problem=INVALID, subject="nurse-1",
        headers=bearer(clinic.nurse_token), parameter=parameter,
    )  # fmt: skip
