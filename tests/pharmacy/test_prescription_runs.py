"""A troche prescription with five refills, end to end on both databases: received over
telehealth, filled to its limit from a compounded lot (each fill a dispense in the ledger),
a sixth refill refused, read by the prescriber's clinic and by nobody else."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.factories import assert_problem, create_registrant
from tests.pharmacy.dispensary import PRESCRIPTIONS, Dispensary, open_dispensary

FILL_DAYS = [date(2026, 3, 2) + timedelta(days=24 * n) for n in range(7)]
"""Every 24 days: later than 75 % of a 30-day supply, so no refill is early."""


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


async def test_a_troche_prescription_filled_to_its_limit_and_a_sixth_refill_refused(
    dispensary: Dispensary, admin_token: str
):
    rx = await dispensary.receive(issuer_registrant_id=dispensary.clinic_id)
    assert (rx["status"], rx["remaining"], rx["fill_by"]) == ("active", "180", "2026-09-02")

    for number, day in enumerate(FILL_DAYS[:6]):
        response = await dispensary.fill(rx, dispensary.fill_body(dispensary.on(day)))
        assert response.status_code == 201, response.text
        fill = response.json()["fills"][-1]
        assert (fill["refill_number"], fill["partial"], fill["broken_rules"]) == (number, False, [])
    assert response.json()["remaining"] == "0"
    assert Decimal(await dispensary.shelf_balance()) == Decimal(300 - 180)

    refused = await dispensary.fill(rx, dispensary.fill_body(dispensary.on(FILL_DAYS[6])))
    assert_problem(refused, 422, "refills-exhausted")
    assert Decimal(await dispensary.shelf_balance()) == Decimal(120)

    dispenses = await dispensary.get("/v1/ledger/events", registrant_id=dispensary.id,
                                     type="dispense")  # fmt: skip
    items = dispenses.json()["items"]
    assert len(items) == 6
    assert {e["prescription_id"] for e in items} == {rx["id"]}
    assert {e["document_reference"] for e in items} == {rx["rx_number"]}
    assert {e["patient_id"] for e in items} == {dispensary.patient.id}

    # The clinic the pharmacy linked it to reads it and its fills; another registrant does not.
    seen = await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}", dispensary.prescriber_token)
    assert seen.status_code == 200, seen.text
    assert len(seen.json()["fills"]) == 6
    listed = await dispensary.get(PRESCRIPTIONS, dispensary.prescriber_token,
                                  registrant_id=dispensary.clinic_id)  # fmt: skip
    assert [p["id"] for p in listed.json()["items"]] == [rx["id"]]
    stranger = await create_registrant(dispensary.client, admin_token, kind="pharmacy")
    other = dispensary.make_token(["pharmacist"], [stranger["id"]], sub="rph-9")
    assert_problem(await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}", other), 404, "not-found")
    # Reading is not filling: the prescriber's side cannot dispense it.
    attempt = await dispensary.post(f"{PRESCRIPTIONS}/{rx['id']}/fills",
                                    dispensary.fill_body(dispensary.on(FILL_DAYS[6])),
                                    dispensary.prescriber_token)  # fmt: skip
    assert_problem(attempt, 404, "not-found")
