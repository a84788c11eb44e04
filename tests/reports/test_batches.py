"""Compounding batch records on both databases."""

import pytest

from tests.conftest import bearer
from tests.pharmacy.dispensary import Dispensary, open_dispensary


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


async def test_a_batch_with_its_ingredients_yield_and_people(dispensary: Dispensary):
    """300 troches of 100 mg ketamine HCl from 30 g of bulk hydrochloride (the dispensary's)."""
    token = dispensary.make_token(["compliance_officer"], [dispensary.id], sub="officer-rx")
    response = await dispensary.client.get(
        "/v1/reports/compounding-batches",
        params={"registrant_id": dispensary.id, "from": "2026-03-01", "to": "2026-03-31"},
        headers=bearer(token),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    [batch] = response.json()["items"]
    assert {key: batch[key] for key in (
        "compounded_at", "product", "lot_number", "units", "beyond_use_date", "ingredients",
        "mg_in_base", "mg_out_base", "yield_percent", "yield_reason", "compounded_by",
        "broken_rules",
    )} == {
        "compounded_at": "2026-03-02T09:00:00-06:00", "product": dispensary.troche.name,
        "lot_number": "T-2026-001", "units": "300", "beyond_use_date": "2026-09-30",
        "ingredients": ["API-77 (Ketamine HCl USP powder): 30 g, 26022 mg base"],
        "mg_in_base": "26022", "mg_out_base": "26022", "yield_percent": "100",
        "yield_reason": None, "compounded_by": dispensary.pharmacist.name,
        "broken_rules": [],
    }  # fmt: skip
    assert batch["checked_by"]
