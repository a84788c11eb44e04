"""The days a pharmacy still owes its PDMP (the console's "PDMP days not yet submitted"): each
business day and any day with a fill since its first fill, but those the state accepted."""

from datetime import date
from typing import Any

import pytest

from tests.conftest import bearer
from tests.factories import assert_problem
from tests.pharmacy.dispensary import Dispensary
from tests.reports.pdmp.support import OUTSTANDING, REJECTED, filled, officer, respond, submitted


async def outstanding(dispensary: Dispensary, token: str | None = None, **days: str) -> Any:
    return await dispensary.get(OUTSTANDING, token or officer(dispensary),
                                registrant_id=dispensary.id, **days)  # fmt: skip


def listed(response: Any) -> list[tuple[str, str, str | None]]:
    assert response.status_code == 200, response.text
    return [(d["date"], d["status"], d["submission_id"]) for d in response.json()["days"]]


async def test_the_days_the_state_has_not_accepted_since_the_first_fill(
    dispensary: Dispensary, admin_token
):
    """Monday 2 March to Monday 9 March 2026: the business days, and Saturday the 7th, when a
    prescription was filled; not Sunday the 8th."""
    await filled(dispensary, date(2026, 3, 2))
    await filled(dispensary, date(2026, 3, 7))
    dispensary.on(date(2026, 3, 10))
    accepted = await submitted(dispensary, "2026-03-02")
    await respond(dispensary, accepted["id"], outcome="accepted")
    awaiting = await submitted(dispensary, "2026-03-03")
    rejected = await submitted(dispensary, "2026-03-04")
    await respond(dispensary, rejected["id"], **REJECTED)

    response = await outstanding(dispensary)
    assert (response.json()["from"], response.json()["to"]) == ("2026-03-02", "2026-03-09")
    assert listed(response) == [
        ("2026-03-03", "awaiting_response", awaiting["id"]),
        ("2026-03-04", "rejected", rejected["id"]),
        ("2026-03-05", "not_submitted", None), ("2026-03-06", "not_submitted", None),
        ("2026-03-07", "not_submitted", None), ("2026-03-09", "not_submitted", None),
    ]  # fmt: skip

    # The pharmacy closed on Friday the 6th; the 4th corrected, the 3rd answered: accepted.
    closed = await dispensary.client.patch(f"/v1/registrants/{dispensary.id}",
                                           json={"holidays": ["2026-03-06"]},
                                           headers=bearer(admin_token))  # fmt: skip
    assert closed.status_code == 200, closed.text
    correction = await submitted(dispensary, "2026-03-04", corrects_submission_id=rejected["id"])
    for done in (correction, awaiting):
        await respond(dispensary, done["id"], outcome="accepted")
    assert listed(await outstanding(dispensary)) == [
        ("2026-03-05", "not_submitted", None), ("2026-03-07", "not_submitted", None),
        ("2026-03-09", "not_submitted", None),
    ]  # fmt: skip
    assert listed(await outstanding(dispensary, **{"from": "2026-02-27", "to": "2026-03-05"})) == [
        ("2026-02-27", "not_submitted", None), ("2026-03-05", "not_submitted", None),
    ]  # fmt: skip


async def test_a_pharmacy_that_never_filled_owes_nothing_yet(dispensary: Dispensary):
    dispensary.on(date(2026, 3, 10))
    response = await outstanding(dispensary)
    assert response.json() == {"registrant_id": dispensary.id, "from": None,
                               "to": "2026-03-09", "days": []}  # fmt: skip


@pytest.mark.parametrize(
    ("days", "parameter"),
    [({"to": "2026-03-10"}, "to"), ({"from": "2026-03-09", "to": "2026-03-08"}, "to")],
)
async def test_only_days_that_have_ended_in_order(dispensary: Dispensary, days, parameter):
    dispensary.on(date(2026, 3, 10))
    problem = assert_problem(await outstanding(dispensary, **days), 422, "invalid-input")
    assert problem["errors"][0]["parameter"] == parameter


async def test_only_a_pharmacys_staff_and_admins_read_its_days(dispensary: Dispensary, admin_token):
    assert (await outstanding(dispensary, admin_token)).status_code == 200
    assert (await outstanding(dispensary, dispensary.token)).status_code == 200  # pharmacist
    stranger = dispensary.make_token(["compliance_officer"], [dispensary.clinic_id])
    assert_problem(await outstanding(dispensary, stranger), 404, "not-found")
    clinician = dispensary.make_token(["clinician"], [dispensary.id])
    assert_problem(await outstanding(dispensary, clinician), 403, "permission-denied")
    clinic = await dispensary.get(OUTSTANDING, stranger, registrant_id=dispensary.clinic_id)
    assert_problem(clinic, 422, "not-a-pharmacy")
