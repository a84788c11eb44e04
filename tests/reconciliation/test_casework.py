"""A discrepancy's case: assigned (and reassigned) by a compliance officer to a member of
staff of its registrant, each assignment kept; notes written on it, never changed; both in
the discrepancy's detail, the assignee in the list and its filter."""

from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import bearer
from tests.factories import assert_problem, assert_refused, create_registrant
from tests.ledger.conftest import Clinic, open_clinic
from tests.reconciliation.test_discrepancies import discrepancies, move, stolen

PROBLEM = "urn:csledger:problem:"


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def assign(clinic: Clinic, found: dict[str, Any], staff_id: str | None,
                 token: str | None = None):  # fmt: skip
    return await clinic.client.post(
        f"/v1/discrepancies/{found['id']}/assignment", json={"staff_id": staff_id},
        headers=bearer(token or clinic.officer_token),
    )  # fmt: skip


async def write(clinic: Clinic, found: dict[str, Any], note: str, token: str | None = None):
    return await clinic.client.post(
        f"/v1/discrepancies/{found['id']}/notes", json={"text": note},
        headers=bearer(token or clinic.officer_token),
    )  # fmt: skip


async def test_a_discrepancy_is_assigned_reassigned_and_every_assignment_kept(
    clinic, app, clock, probe
):
    _event, found = await stolen(clinic, app, clock)
    olga = await clinic.builder.staff(role="compliance_officer", subject="officer-3", name="Olga")
    first = await assign(clinic, found, clinic.witness.id)
    assert first.status_code == 200, first.text
    assert (first.json()["assigned_to"], first.json()["assignee"]["name"]) == (
        clinic.witness.id, "Wes Witness",
    )  # fmt: skip
    [row] = await probe.audit_rows(first.headers["x-request-id"])
    assert (row.resource_type, row.resource_id, row.subject) == (
        "discrepancy", found["id"], "officer-1",
    )  # fmt: skip
    second = (await assign(clinic, found, olga.id)).json()
    assert [
        (a["staff_id"], a["staff"]["name"], a["by_subject"]) for a in second["assignments"]
    ] == [(clinic.witness.id, "Wes Witness", "officer-1"), (olga.id, "Olga", "officer-1")]
    assert second["version"] == found["version"]  # an assignment is no transition
    nobody = (await assign(clinic, found, None)).json()
    assert (nobody["assigned_to"], nobody["assignee"], len(nobody["assignments"])) == (
        None, None, 3,
    )  # fmt: skip
    assert_problem(await assign(clinic, found, None), 409, "already-assigned")


async def test_the_list_names_the_assignee_and_filters_by_it(clinic, app, clock):
    _event, found = await stolen(clinic, app, clock)
    assert (await assign(clinic, found, clinic.witness.id)).status_code == 200
    [listed] = await discrepancies(clinic, assigned_to=clinic.witness.id)
    assert (listed["id"], listed["assignee"]["name"]) == (found["id"], "Wes Witness")
    assert await discrepancies(clinic, assigned_to=clinic.nurse.id) == []
    assert len(await discrepancies(clinic, lot_id=clinic.lot.id)) == 1
    assert len(await discrepancies(clinic, location_id=clinic.vault.id)) == 1
    assert await discrepancies(clinic, location_id=clinic.room.id) == []


async def test_nobody_is_given_the_case_of_their_own_work_nor_gives_it(
    clinic, app, clock, token, admin_token, probe
):
    _event, found = await stolen(clinic, app, clock)
    url = f"/v1/discrepancies/{found['id']}/assignment"
    await assert_refused(
        clinic.client, probe, "POST", url, status=422, problem=PROBLEM + "invalid-input",
        pointer="#/staff_id", subject="officer-1", headers=bearer(clinic.officer_token),
        json={"staff_id": clinic.nurse.id},
    )  # fmt: skip
    own = token(["compliance_officer"], [clinic.registrant.id], sub="nurse-1", name="Nora")
    await assert_refused(
        clinic.client, probe, "POST", url, status=403, problem=PROBLEM + "own-work",
        subject="nurse-1", headers=bearer(own), json={"staff_id": clinic.witness.id},
    )  # fmt: skip
    elsewhere = await create_registrant(clinic.client, admin_token)
    stranger = await clinic.client.post(
        f"/v1/registrants/{elsewhere['id']}/staff", headers=bearer(admin_token),
        json={"name": "Sam Elsewhere", "role": "nurse"},
    )  # fmt: skip
    assert stranger.status_code == 201, stranger.text
    await assert_refused(
        clinic.client, probe, "POST", url, status=422, problem=PROBLEM + "invalid-input",
        pointer="#/staff_id", subject="officer-1", headers=bearer(clinic.officer_token),
        json={"staff_id": stranger.json()["id"]},
    )  # fmt: skip


async def test_notes_are_kept_in_order_signed_and_dated(clinic, app, clock, probe):
    _event, found = await stolen(clinic, app, clock)
    assert (await write(clinic, found, "Asked Nora for the count sheet.")).status_code == 200
    written = await write(clinic, found, "Count sheet found:\nthe vial was recounted.")
    assert written.status_code == 200, written.text
    assert [(n["text"], n["by_subject"], n["by_name"]) for n in written.json()["notes"]] == [
        ("Asked Nora for the count sheet.", "officer-1", "Olive"),
        ("Count sheet found:\nthe vial was recounted.", "officer-1", "Olive"),
    ]
    [row] = await probe.audit_rows(written.headers["x-request-id"])
    assert (row.resource_type, row.resource_id) == ("discrepancy", found["id"])
    shown = await clinic.client.get(f"/v1/discrepancies/{found['id']}",
                                    headers=bearer(clinic.officer_token))  # fmt: skip
    assert shown.json()["notes"][0]["text"] == "Asked Nora for the count sheet."
    await assert_refused(
        clinic.client, probe, "POST", f"/v1/discrepancies/{found['id']}/notes", status=422,
        problem=PROBLEM + "invalid-input", subject="officer-1",
        headers=bearer(clinic.officer_token), json={"text": ""},
    )  # fmt: skip


async def test_notes_and_assignments_are_never_changed(clinic, app, clock, database_url):
    _event, found = await stolen(clinic, app, clock)
    await write(clinic, found, "first")
    await assign(clinic, found, clinic.witness.id)
    async with app.state.database.transaction() as session:
        for table in ("discrepancy_notes", "discrepancy_assignments"):
            with pytest.raises(Exception, match="append-only"):
                async with session.begin_nested():
                    await session.execute(text(f"UPDATE {table} SET by_name = 'x'"))  # noqa: S608


async def test_only_compliance_officers_of_the_registrant_assign_and_write(
    clinic, app, clock, token, admin_token, probe
):
    _event, found = await stolen(clinic, app, clock)
    for path, body in (("assignment", {"staff_id": clinic.witness.id}), ("notes", {"text": "x"})):
        url = f"/v1/discrepancies/{found['id']}/{path}"
        await assert_refused(
            clinic.client, probe, "POST", url, status=403, problem=PROBLEM + "permission-denied",
            subject="nurse-2", headers=bearer(clinic.witness_token), json=body,
        )  # fmt: skip
        other = await create_registrant(clinic.client, admin_token)
        stranger = token(["compliance_officer"], [other["id"]], sub="officer-9")
        await assert_refused(
            clinic.client, probe, "POST", url, status=404, problem=PROBLEM + "not-found",
            subject="officer-9", headers=bearer(stranger), json=body,
        )  # fmt: skip
    moved = await move(clinic, found, to="acknowledged")
    assert (moved.json()["assignments"], moved.json()["notes"]) == ([], [])
