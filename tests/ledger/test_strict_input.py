"""The ledger takes numbers, instants and text of one strict grammar, or refuses them.

Each input here was once taken (``"1_000"`` stored as 1,000 units) or answered 500; each is
now a 422 problem pointing at what is wrong, and writes nothing but its audit row.
"""

import itertools
from typing import Any

import pytest

from tests.conftest import bearer
from tests.factories import assert_refused
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
