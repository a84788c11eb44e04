"""The receipts report on both databases: what came in, from whom, on which invoice, in how
many containers."""

import csv
import io

import pytest

from tests.conftest import bearer
from tests.pharmacy.dispensary import Dispensary, open_dispensary

RECEIPTS = "/v1/reports/receipts"


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


async def test_a_bulk_receipt_with_its_supplier_invoice_and_containers(dispensary: Dispensary):
    token = dispensary.make_token(["compliance_officer"], [dispensary.id], sub="officer-rx")
    params = {"registrant_id": dispensary.id, "from": "2026-03-02", "to": "2026-03-02"}
    response = await dispensary.client.get(RECEIPTS, params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["report"], report["period"]) == ("receipts", {"from": "2026-03-02",
                                                                 "to": "2026-03-02"})  # fmt: skip
    [receipt] = report["items"]
    assert receipt | {"event_id": None, "sequence": None} == {
        "event_id": None, "sequence": None, "type": "receipt",
        "occurred_at": "2026-03-02T09:00:00-06:00",
        "supplier_name": "Spectrum Chemical",
        "supplier_address": "100 Main St, Austin, TX 78701",
        "supplier_dea_number": "PK1234563", "document_reference": "INV-5521",
        "substance": "ketamine", "product": "Ketamine HCl USP powder", "ndc": "62991283001",
        "dosage_form": "bulk_powder", "strength": "1000 mg/g", "package_size": "100",
        "quantity": "30", "unit": "g", "containers": "0.3", "lot_number": "API-77",
        "expires_on": "2027-06-30", "location": "Dispensing shelf",
        "received_by": dispensary.pharmacist.name, "reversed_by": None,
        "is_record": False, "broken_rules": [],
    }  # fmt: skip

    table = await dispensary.client.get(RECEIPTS, params=params | {"format": "csv"},
                                        headers=bearer(token))  # fmt: skip
    titles, row = list(csv.reader(io.StringIO(table.text)))
    assert dict(zip(titles, row, strict=True))["Supplier DEA number"] == "PK1234563"
    assert dict(zip(titles, row, strict=True))["Containers"] == "0.3"

    params |= {"from": "2026-03-03", "to": "2026-03-31"}
    later = await dispensary.client.get(RECEIPTS, params=params, headers=bearer(token))
    assert later.json()["items"] == []
