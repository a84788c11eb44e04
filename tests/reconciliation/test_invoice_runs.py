"""Invoice matching in a reconciliation run, through HTTP and the worker on both databases:
invoices sent as CSV and receipts appended, each kind of mismatch found once, with its
numbers, and found again by a second run without a duplicate."""

import itertools
from datetime import datetime
from typing import Any

import pytest

from app.core.clock import FrozenClock
from app.reconciliation.invoice_rules import CODES, NO_LONGER_FOUND
from app.worker import default_periodic
from tests.conftest import bearer
from tests.ledger.conftest import SUPPLIER, Clinic, open_clinic
from tests.ledger.support import appended
from tests.reconciliation.test_runs import chicago, listed, new_lot, reconciled, worked
from tests.world import Lot

DEA = SUPPLIER["dea_number"]
_KEYS = itertools.count(1)


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def sent_invoices(clinic: Clinic, rows: list[str]) -> None:
    text = "invoice_number,invoice_date,supplier_dea_number,ndc,lot_number,quantity\n"
    response = await clinic.client.post(
        f"/v1/registrants/{clinic.registrant.id}/supplier-invoices",
        content=(text + "\n".join(rows) + "\n").encode(),
        headers=bearer(clinic.nurse_token) | {"Content-Type": "text/csv",
                                              "Idempotency-Key": f"run-{next(_KEYS)}"},
    )  # fmt: skip
    assert response.status_code == 201, response.text


async def receipt(clinic: Clinic, lot: Lot, quantity: str, invoice: str, when: datetime,
                  **more: Any) -> dict[str, Any]:  # fmt: skip
    body = clinic.event("receipt", quantity, lot_id=lot.id, document_reference=invoice,
                        occurred_at=when.isoformat(), **more)  # fmt: skip
    event: dict[str, Any] = await appended(clinic, body)
    return event


async def test_a_run_finds_each_mismatch_of_invoices_and_receipts(clinic: Clinic, app,
                                                                 clock: FrozenClock):  # fmt: skip
    lots = {number: await new_lot(clinic, number, "2027-06-30")
            for number in ("L-200", "L-300", "L-400")}  # fmt: skip
    await sent_invoices(clinic, [
        f"INV-A,2026-02-25,{DEA},0409-2051-05,L-100,20",  # 15 received: short
        f"INV-A,2026-02-25,{DEA},0409-2051-05,L-200,10",  # received as L-300
        f"INV-A,2026-02-25,{DEA},0409-2051-05,L-400,5",  # never received
        f"INV-B,2026-02-25,{DEA},0409-2051-05,L-100,10",  # received twice
        f"INV-C,2026-02-25,{DEA},0409-2051-05,L-100,7",  # received as invoiced
    ])  # fmt: skip
    day = chicago("2026-02-26", 10)
    short = await receipt(clinic, clinic.lot, "15", "INV-A", day)
    other_lot = await receipt(clinic, lots["L-300"], "10", "INV-A", day)
    await receipt(clinic, clinic.lot, "10", "INV-B", day)
    await receipt(clinic, clinic.lot, "10", "INV-B", chicago("2026-02-26", 11),
                  override_reason="a second delivery came under the same invoice")  # fmt: skip
    await receipt(clinic, clinic.lot, "7", "INV-C", day)
    never_invoiced = await receipt(clinic, clinic.lot, "3", "INV-Z", day)

    result = await reconciled(clinic, app, clock, "2026-02-25", "2026-03-02")
    assert {code: n for code, n in result["findings"].items() if code in CODES} == dict.fromkeys(
        CODES, 1)  # fmt: skip
    found = {d["rule"]: d for code in CODES for d in await listed(clinic, rule=code)}
    assert set(found) == set(CODES)
    assert (found["invoice_quantity_differs"]["severity"],
            found["invoice_quantity_differs"]["details"]["invoiced"],
            found["invoice_quantity_differs"]["details"]["received"]
            ) == ("significant", "20", "15")  # fmt: skip
    assert found["invoice_quantity_differs"]["event_ids"] == [short["id"]]
    assert found["invoice_lot_differs"]["event_ids"] == [other_lot["id"]]
    assert found["invoice_lot_differs"]["details"]["lot_number"] == "L-200"
    assert found["invoiced_not_received"]["details"]["lot_number"] == "L-400"
    assert found["invoiced_not_received"]["severity"] == "significant"
    assert found["invoice_received_twice"]["details"]["received"] == "20"
    assert found["received_not_invoiced"]["event_ids"] == [never_invoiced["id"]]
    assert "never received" in found["invoiced_not_received"]["summary"]

    again = await reconciled(clinic, app, clock, "2026-02-25", "2026-03-02")
    assert {code: n for code, n in again["findings"].items() if code in CODES} == dict.fromkeys(
        CODES, 1)  # fmt: skip
    assert [len(await listed(clinic, rule=code)) for code in CODES] == [1] * len(CODES)


async def test_the_nightly_runs_find_an_invoice_never_received_once_its_grace_ends(
    clinic: Clinic, app, clock: FrozenClock
):
    """An invoice dated 1 March (grace: 3 days) is missing from the night of 5 March on: the
    runs of the nights before find nothing, that night's finds it, and the ones after add no
    second discrepancy."""
    await sent_invoices(clinic, [f"INV-N,2026-03-01,{DEA},0409-2051-05,L-100,4"])
    periodic = default_periodic(app.state.settings)
    for day in range(2, 5):  # the nights of 2 to 4 March, at 03:00 in Chicago
        clock.set(chicago(f"2026-03-{day:02d}", 3))
        await worked(app, clock, periodic=periodic)
    assert await listed(clinic, rule="invoiced_not_received") == []
    for day in range(5, 7):
        clock.set(chicago(f"2026-03-{day:02d}", 3))
        await worked(app, clock, periodic=periodic)
    [missing] = await listed(clinic, rule="invoiced_not_received")
    assert (missing["details"]["invoice_number"], missing["details"]["invoiced"]) == ("INV-N", "4")


async def test_a_mismatch_a_later_run_no_longer_finds_is_cured(
    clinic: Clinic, app, clock: FrozenClock
):
    """A delivery that came after its invoice was found never received, and an invoice sent
    after its receipt was found never invoiced: the next run over them cures both, saying why;
    a mismatch it did not judge again (another invoice, outside its period) stands."""
    await sent_invoices(clinic, [
        f"INV-L,2026-02-20,{DEA},0409-2051-05,L-100,4",  # delivered late
        f"INV-O,2026-02-01,{DEA},0409-2051-05,L-100,9",  # never delivered, not judged again
    ])  # fmt: skip
    await receipt(clinic, clinic.lot, "2", "INV-M", chicago("2026-02-20", 10))
    await reconciled(clinic, app, clock, "2026-02-01", "2026-02-28")
    late, outside = sorted(await listed(clinic, rule="invoiced_not_received"),
                           key=lambda d: d["details"]["invoice_number"])  # fmt: skip
    [unbilled] = await listed(clinic, rule="received_not_invoiced")

    await receipt(clinic, clinic.lot, "4", "INV-L", chicago("2026-03-01", 10))
    await sent_invoices(clinic, [f"INV-M,2026-02-20,{DEA},0409-2051-05,L-100,2"])
    result = await reconciled(clinic, app, clock, "2026-02-20", "2026-03-01")

    assert result["cured"] == 2
    assert {code: n for code, n in result["findings"].items() if code in CODES} == {}
    cured = await listed(clinic, status="cured")
    assert {d["id"] for d in cured} == {late["id"], unbilled["id"]}
    for discrepancy in cured:
        [move] = discrepancy_moves(await shown_discrepancy(clinic, discrepancy["id"]))
        assert move == ("open", "cured", NO_LONGER_FOUND)
    still_open = [d["id"] for d in await listed(clinic, status="open") if d["rule"] in CODES]
    assert still_open == [outside["id"]]


async def shown_discrepancy(clinic: Clinic, discrepancy_id: str) -> dict[str, Any]:
    response = await clinic.client.get(f"/v1/discrepancies/{discrepancy_id}",
                                       headers=bearer(clinic.officer_token))  # fmt: skip
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def discrepancy_moves(discrepancy: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(t["from_status"], t["to_status"], t["note"]) for t in discrepancy["transitions"]]
