"""Findings a run judges afresh (an inventory due, a DEA report overdue, expired stock on
hand) close by themselves once their condition no longer holds: cured by the run, with the run
and the reason in their history, counted apart from those a person resolved, and opened again,
the same discrepancy, when they come back. Runs never duplicate a finding, also at once."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.worker import Worker
from tests.conftest import START, bearer
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended, reversal_body
from tests.reconciliation.test_runs import (
    DAY,
    chicago,
    counted,
    jobs_of,
    listed,
    new_lot,
    received,
    reconciled,
    resolve,
    started,
)
from tests.world import Location

RUN = "urn:csledger:reconciliation", "Reconciliation run"
"""Who a run's moves are by."""


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def shown(clinic: Clinic, found: dict[str, Any]) -> dict[str, Any]:
    """The discrepancy with its transitions."""
    response = await clinic.client.get(f"/v1/discrepancies/{found['id']}",
                                       headers=bearer(clinic.officer_token))  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def moves(detail: dict[str, Any]) -> list[tuple[str, str, str, str | None, str | None]]:
    """Each transition: from, to, by whom, which run, and the note."""
    return [(t["from_status"], t["to_status"], t["by_subject"], t["run_id"], t["note"])
            for t in detail["transitions"]]  # fmt: skip


async def last_run_id(app: Any) -> str:
    return str((await jobs_of(app, "reconciliation_run"))[-1].id)


def outcomes(result: dict[str, Any]) -> tuple[int, int, int, int]:
    return result["opened"], result["reopened"], result["updated"], result["cured"]


# A DEA report overdue


async def stolen_on_friday(clinic: Clinic, app, clock) -> dict[str, Any]:
    """2 mL stolen, discovered at 17:00 on Friday 27 February: written notice due on Monday 2
    March, Form 106 by 13 April. Its discrepancy, opened by the worker."""
    await appended(clinic, clinic.event("receipt"))
    await counted(clinic, "8", START - timedelta(minutes=4), "initial")
    theft = clinic.event("theft", "2", loss={"discovered_at": "2026-02-27T23:00:00Z",
                                             "kind": "theft"},
                         occurred_at="2026-02-27T18:00:00Z")  # fmt: skip
    await appended(clinic, theft)
    await Worker(app.state.database, app.state.settings, clock, periodic=()).run_until_idle()
    [found] = await listed(clinic, rule="theft")
    return found


async def test_a_dea_report_overdue_is_cured_once_the_theft_is_reported_in_time(clinic, app, clock):
    """The notice went to the DEA on Monday, but Tuesday's run knew nothing of it yet (it is
    recorded with the report): written notice overdue. Reported on Tuesday, notice dated
    Monday: the next run cures the finding, naming itself and why."""
    theft = await stolen_on_friday(clinic, app, clock)
    clock.set(chicago("2026-03-03", 3))
    first = await reconciled(clinic, app, clock, "2026-03-02")
    assert (first["findings"], outcomes(first)) == ({"dea_report_overdue": 1}, (1, 0, 0, 0))
    [overdue] = await listed(clinic, rule="dea_report_overdue")
    assert (overdue["severity"], overdue["summary"]) == ("critical", (
        "Written notice (due 2026-03-02) overdue to the DEA, for theft of 2 mL of Ketamine HCl "
        "injection 50 mg/mL, 10 mL vial (lot L-100) at Vault, discovered 2026-02-27 17:00 CST"
    ))  # fmt: skip
    # About what the theft is about: its place, lot and product, its event.
    assert (overdue["location_id"], overdue["lot_id"], overdue["product_id"]) == (
        clinic.vault.id, clinic.lot.id, clinic.product.id,
    )  # fmt: skip
    assert overdue["event_ids"] == theft["event_ids"]

    clock.set(chicago("2026-03-03", 10))
    reported = await clinic.client.post(
        f"/v1/discrepancies/{theft['id']}/transitions",
        json={"to": "reported", "notice_given_on": "2026-03-02", "reported_on": "2026-03-03",
              "report_reference": "DEA-106-7"},
        headers=bearer(clinic.officer_token),
    )  # fmt: skip
    assert reported.status_code == 200, reported.text

    clock.set(chicago("2026-03-04", 3))
    next_night = await reconciled(clinic, app, clock, "2026-03-03")
    assert (next_night["findings"], outcomes(next_night)) == ({}, (0, 0, 0, 1))
    cured = await shown(clinic, overdue)
    assert (cured["status"], cured["version"], cured["reason_code"]) == ("cured", 2, None)
    assert moves(cured) == [
        (
            "open",
            "cured",
            RUN[0],
            await last_run_id(app),
            "reported to the DEA, or resolved as owing no report",
        )
    ]
    assert cured["transitions"][0]["by_name"] == RUN[1]
    assert [d["id"] for d in await listed(clinic, status="cured")] == [overdue["id"]]
    assert await listed(clinic, status="open") == []
    assert await listed(clinic, status="resolved") == []


async def test_a_cured_finding_is_counted_and_told_apart_in_the_discrepancies_report(
    clinic, app, clock
):
    theft = await stolen_on_friday(clinic, app, clock)
    clock.set(chicago("2026-03-03", 3))
    await reconciled(clinic, app, clock, "2026-03-02")
    [overdue] = await listed(clinic, rule="dea_report_overdue")
    report = {"to": "reported", "notice_given_on": "2026-03-02", "reported_on": "2026-03-03",
              "report_reference": "DEA-106-7"}  # fmt: skip
    moved = await clinic.client.post(f"/v1/discrepancies/{theft['id']}/transitions",
                                     json=report, headers=bearer(clinic.officer_token))  # fmt: skip
    assert moved.status_code == 200, moved.text
    clock.set(chicago("2026-03-04", 3))
    await reconciled(clinic, app, clock, "2026-03-03")
    run_id = await last_run_id(app)

    response = await clinic.client.get(
        "/v1/reports/discrepancies", headers=bearer(clinic.officer_token),
        params={"registrant_id": clinic.registrant.id, "from": "2026-03-01",
                "to": "2026-03-31"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["by_status"] == {"open": 0, "acknowledged": 0, "resolved": 0,
                                 "unable_to_reconcile": 0, "reported": 1, "cured": 1}  # fmt: skip
    rows = {item["discrepancy_id"]: item for item in body["items"]}
    assert rows[overdue["id"]]["status"] == "cured"
    assert rows[overdue["id"]]["history"] == [
        f"2026-03-04T03:00:00-06:00 open -> cured by Reconciliation run {run_id}: "
        "reported to the DEA, or resolved as owing no report"
    ]


async def test_a_loss_resolved_as_no_reportable_loss_owes_the_dea_no_report(clinic, app, clock):
    """Half a mL recorded lost on Friday turns out to have been miscounted: the officer
    resolves the loss before its notice falls due. No report is owed, so none is overdue."""
    await appended(clinic, clinic.event("receipt"))
    await counted(clinic, "9.5", START - timedelta(minutes=4), "initial")
    loss = clinic.event("loss", "0.5", loss={"discovered_at": "2026-02-27T23:00:00Z",
                                             "kind": "other"},
                        occurred_at="2026-02-27T18:00:00Z")  # fmt: skip
    await appended(clinic, loss)
    await Worker(app.state.database, app.state.settings, clock, periodic=()).run_until_idle()
    [found] = await listed(clinic, rule="loss")
    await resolve(clinic, found)
    clock.set(chicago("2026-03-03", 3))
    assert (await reconciled(clinic, app, clock, "2026-03-02"))["findings"] == {}


# An inventory due


async def test_an_initial_inventory_due_is_cured_once_the_inventory_is_taken(clinic, app, clock):
    await received(clinic, "10", START - timedelta(minutes=30))
    first = await reconciled(clinic, app, clock)
    [due] = await listed(clinic, rule="inventory_due")
    assert (first["findings"], due["summary"]) == (
        {"inventory_due": 1}, "Initial inventory due 2026-03-02 (stock first handled 2026-03-02)",
    )  # fmt: skip

    await counted(clinic, "10", START - timedelta(minutes=5), "initial")
    clock.advance(timedelta(minutes=1))
    second = await reconciled(clinic, app, clock)
    assert (second["findings"], outcomes(second)) == ({}, (0, 0, 0, 1))
    cured = await shown(clinic, due)
    assert moves(cured) == [
        ("open", "cured", RUN[0], await last_run_id(app), "inventory taken 2026-03-02")
    ]

    clock.advance(timedelta(minutes=1))
    third = await reconciled(clinic, app, clock)
    assert outcomes(third) == (0, 0, 0, 0)  # cured once, and left so
    assert (await shown(clinic, due))["version"] == 2


async def test_an_acknowledged_finding_is_cured_too(clinic, app, clock):
    await received(clinic, "10", START - timedelta(minutes=30))
    await reconciled(clinic, app, clock)
    [due] = await listed(clinic, rule="inventory_due")
    acknowledged = await clinic.client.post(f"/v1/discrepancies/{due['id']}/transitions",
                                            json={"to": "acknowledged"},
                                            headers=bearer(clinic.officer_token))  # fmt: skip
    assert acknowledged.status_code == 200, acknowledged.text
    await counted(clinic, "10", START - timedelta(minutes=5), "initial")
    clock.advance(timedelta(minutes=1))
    assert (await reconciled(clinic, app, clock))["cured"] == 1
    assert [(t[0], t[1]) for t in moves(await shown(clinic, due))] == [
        ("open", "acknowledged"), ("acknowledged", "cured"),
    ]  # fmt: skip


async def test_nobody_moves_a_cured_finding(clinic, app, clock, token):
    await received(clinic, "10", START - timedelta(minutes=30))
    await reconciled(clinic, app, clock)
    [due] = await listed(clinic, rule="inventory_due")
    await counted(clinic, "10", START - timedelta(minutes=5), "initial")
    clock.advance(timedelta(minutes=1))
    await reconciled(clinic, app, clock)
    path = f"/v1/discrepancies/{due['id']}/transitions"
    for to in ("acknowledged", "resolved", "cured"):
        refused = await clinic.client.post(path, json={"to": to, "reason_code": "count_error"},
                                           headers=bearer(clinic.officer_token))  # fmt: skip
        assert refused.status_code == 409, refused.text
    assert (await shown(clinic, due))["status"] == "cured"


async def test_a_person_cannot_cure_an_open_finding(clinic, app, clock):
    await received(clinic, "10", START - timedelta(minutes=30))
    await reconciled(clinic, app, clock)
    [due] = await listed(clinic, rule="inventory_due")
    refused = await clinic.client.post(f"/v1/discrepancies/{due['id']}/transitions",
                                       json={"to": "cured"},
                                       headers=bearer(clinic.officer_token))  # fmt: skip
    assert refused.status_code == 409, refused.text
    assert (await shown(clinic, due))["status"] == "open"


# Coming back


async def test_a_cured_finding_that_comes_back_is_opened_again_with_its_history(clinic, app, clock):
    """A lot expired on 1 March, 5 mL of it in the vault: found. Moved to the room: the
    vault's finding is cured, the room's opened. Moved back: the vault's opens again (the same
    discrepancy, its history kept), the room's is cured."""
    old = await new_lot(clinic, "L-OLD", "2026-03-01")
    await received(clinic, "5", START - timedelta(minutes=40), old)
    body = clinic.event("count", "5", lot_id=old.id,
                        occurred_at=(START - timedelta(minutes=35)).isoformat(),
                        count={"inventory_id": "8f1c1fb2-3b4f-4b5b-9b34-4c3c7a2f0e01",
                               "inventory_kind": "initial", "taken_at": "close_of_business",
                               "exactness": "exact", "counted_by": clinic.nurse.id})  # fmt: skip
    await appended(clinic, body)

    async def moved(to: Location, from_: Location, minutes: int) -> None:
        when = (START - timedelta(minutes=minutes)).isoformat()
        move = clinic.event("move", "5", lot_id=old.id, location_id=from_.id,
                            to_location_id=to.id, occurred_at=when,
                            override_reason="quarantined until destroyed")  # fmt: skip
        await appended(clinic, move)

    first = await reconciled(clinic, app, clock)
    assert first["findings"] == {"expired_stock_on_hand": 1}
    [vault] = await listed(clinic, rule="expired_stock_on_hand")
    assert vault["location_id"] == clinic.vault.id
    first_run = await last_run_id(app)

    await moved(clinic.room, clinic.vault, 30)
    clock.advance(timedelta(minutes=1))
    second = await reconciled(clinic, app, clock)
    assert outcomes(second) == (1, 0, 0, 1)
    second_run = await last_run_id(app)
    [room] = await listed(clinic, rule="expired_stock_on_hand", status="open")
    assert room["location_id"] == clinic.room.id

    await moved(clinic.vault, clinic.room, 20)
    clock.advance(timedelta(minutes=1))
    third = await reconciled(clinic, app, clock)
    assert outcomes(third) == (0, 1, 0, 1)
    third_run = await last_run_id(app)
    again = await shown(clinic, vault)
    assert (again["id"], again["status"], again["version"], again["previous_id"]) == (
        vault["id"], "open", 3, None,
    )  # fmt: skip
    assert (again["first_found_at"], again["last_found_at"]) == (
        "2026-03-02T15:00:00Z", "2026-03-02T15:02:00Z",
    )  # fmt: skip
    assert moves(again) == [
        ("open", "cured", RUN[0], second_run, "no stock of the expired lot left there"),
        ("cured", "open", RUN[0], third_run, "found again"),
    ]  # fmt: skip
    assert first_run != second_run
    assert [d["id"] for d in await listed(clinic, rule="expired_stock_on_hand")] == [
        vault["id"], room["id"],
    ]  # fmt: skip
    assert (await shown(clinic, room))["status"] == "cured"


async def test_a_finding_a_person_resolved_still_opens_a_new_one_when_it_comes_back(
    clinic, app, clock
):
    await received(clinic, "10", START - timedelta(minutes=30))
    await reconciled(clinic, app, clock)
    [due] = await listed(clinic, rule="inventory_due")
    await resolve(clinic, due)
    clock.advance(timedelta(minutes=1))
    again = await reconciled(clinic, app, clock)
    assert outcomes(again) == (1, 0, 0, 0)
    [recurred] = await listed(clinic, rule="inventory_due", status="open")
    assert (recurred["previous_id"], recurred["id"] != due["id"]) == (due["id"], True)


# Never twice


async def test_nightly_runs_keep_one_discrepancy_per_finding(clinic, app, clock):
    """Five nights of an inventory never taken and a short count (significant: nothing was
    used), whose report falls overdue: each finding one discrepancy, updated night after
    night."""
    await received(clinic, "10", datetime(2026, 2, 20, 18, tzinfo=UTC))
    await counted(clinic, "9", START - timedelta(minutes=5))
    for night in range(3, 8):
        clock.set(chicago(f"2026-03-{night:02d}", 3))
        await reconciled(clinic, app, clock, "2026-02-20", DAY)
    found = await listed(clinic)
    assert sorted((d["rule"], d["status"]) for d in found) == [
        ("count_variance", "open"), ("dea_report_overdue", "open"), ("inventory_due", "open"),
    ]  # fmt: skip


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_runs_at_once_never_duplicate_nor_reopen_twice(clinic, app, clock):
    """Two workers run two runs of the registrant at once, twice: the first pair opens each
    finding once; after a cure, the second pair opens the cured one again once."""
    await received(clinic, "10", START - timedelta(minutes=30))
    await counted(clinic, "9", START - timedelta(minutes=20))

    async def two_at_once() -> None:
        for _ in range(2):
            assert (await started(clinic)).status_code == 202
        workers = [Worker(app.state.database, app.state.settings, clock, periodic=(),
                          name=f"worker-{n}") for n in range(2)]  # fmt: skip
        await asyncio.gather(*(worker.run_until_idle() for worker in workers))

    await two_at_once()
    found = await listed(clinic)
    assert sorted(d["rule"] for d in found) == ["count_variance", "inventory_due"]
    [due] = [d for d in found if d["rule"] == "inventory_due"]

    count = await counted(clinic, "10", START - timedelta(minutes=10), "initial")
    clock.advance(timedelta(minutes=1))
    assert (await reconciled(clinic, app, clock))["cured"] == 1
    officer = clinic.officer_token
    undone = reversal_body(clinic.registrant.id, count["id"], START.isoformat())
    await appended(clinic, undone | {"reason": "counted at the wrong location"}, officer)
    clock.advance(timedelta(minutes=1))
    await two_at_once()

    runs = await jobs_of(app, "reconciliation_run")
    assert [job.status for job in runs] == ["succeeded"] * 5
    results = [job.result or {} for job in runs]
    assert sorted(r["opened"] for r in results[:2]) == [0, 2]
    assert sorted(r["reopened"] for r in results[3:]) == [0, 1]
    again = await shown(clinic, due)
    assert [(t[0], t[1]) for t in moves(again)] == [("open", "cured"), ("cured", "open")]
    assert sorted((d["rule"], d["status"]) for d in await listed(clinic)) == [
        ("count_variance", "open"), ("inventory_due", "open"), ("reversal", "open"),
    ]  # fmt: skip
