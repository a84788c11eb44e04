"""Discrepancies opened through the outbox as events are appended (theft, loss, overrides,
records breaking rules), with the DEA's clocks, and moved forward by compliance officers who
did not do the work."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from app.core.outbox import Message
from app.reconciliation import runs, service, subscribers
from app.reconciliation.findings import NO_SUBJECT, Finding, Subject
from app.reconciliation.workflow import Severity
from app.registry.models import Registrant
from app.worker import Worker
from tests.conftest import START, bearer
from tests.factories import assert_problem, assert_refused, create_registrant
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended

PROBLEM = "urn:csledger:problem:"
FRIDAY_EVENING = "2026-02-27T23:00:00Z"
"""17:00 on Friday 27 February in Chicago."""


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def settled(app, clock) -> None:
    """Let the worker hand every outbox message to its subscribers (and nothing else: no
    scheduled run)."""
    await Worker(app.state.database, app.state.settings, clock, periodic=()).run_until_idle()


async def discrepancies(clinic: Clinic, **params: str) -> list[dict[str, Any]]:
    response = await clinic.client.get(
        "/v1/discrepancies", params={"registrant_id": clinic.registrant.id, **params},
        headers=bearer(clinic.officer_token),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def move(clinic: Clinic, found: dict[str, Any], token: str | None = None, **body: Any):
    return await clinic.client.post(
        f"/v1/discrepancies/{found['id']}/transitions", json=body,
        headers=bearer(token or clinic.officer_token),
    )  # fmt: skip


async def stolen(clinic: Clinic, app, clock, discovered_at: str = FRIDAY_EVENING) -> Any:
    await appended(clinic, clinic.event("receipt"))
    theft = clinic.event("theft", "2", loss={"discovered_at": discovered_at, "kind": "theft"},
                         occurred_at="2026-02-27T18:00:00Z")  # fmt: skip
    event = await appended(clinic, theft)
    await settled(app, clock)
    [found] = await discrepancies(clinic)
    return event, found


async def test_a_theft_opens_a_critical_discrepancy_on_the_deas_clocks(clinic, app, clock):
    event, found = await stolen(clinic, app, clock)
    assert (found["rule"], found["severity"], found["status"], found["reportable"]) == (
        "theft", "critical", "open", True,
    )  # fmt: skip
    assert found["event_ids"] == [event["id"]]
    assert found["staff_ids"] == [clinic.nurse.id]
    # Discovered on a Friday: written notice by Monday, Form 106 within 45 days.
    assert (found["notice_due_on"], found["form_106_due_on"]) == ("2026-03-02", "2026-04-13")


async def test_a_loss_is_discovered_after_it_happened_and_by_now(clinic, probe):
    await appended(clinic, clinic.event("receipt"))
    for discovered in ("2026-02-27T17:59:59Z", "2026-03-02T15:05:01Z"):
        loss = clinic.event("loss", "1", occurred_at="2026-02-27T18:00:00Z",
                            loss={"discovered_at": discovered, "kind": "other"})  # fmt: skip
        await assert_refused(
            clinic.client, probe, "POST", "/v1/ledger/events", status=422,
            problem=PROBLEM + "invalid-input", subject="nurse-1", json=loss,
            headers=bearer(clinic.nurse_token) | {"Idempotency-Key": f"loss-{discovered}"},
        )  # fmt: skip


async def test_discrepancies_are_found_by_whose_work_they_are_about(clinic, app, clock):
    _event, found = await stolen(clinic, app, clock)
    assert [d["id"] for d in await discrepancies(clinic, staff_id=clinic.nurse.id)] == [found["id"]]
    assert await discrepancies(clinic, staff_id=clinic.witness.id) == []


async def test_the_notice_skips_the_registrants_holidays(clinic, app, clock, admin_token):
    patched = await clinic.client.patch(
        f"/v1/registrants/{clinic.registrant.id}", json={"holidays": ["2026-03-02"]},
        headers=bearer(admin_token),
    )  # fmt: skip
    assert patched.status_code == 200, patched.text
    _event, found = await stolen(clinic, app, clock)
    assert found["notice_due_on"] == "2026-03-03"


async def test_a_clean_instruction_opens_nothing(clinic, app, clock):
    await appended(clinic, clinic.event("receipt"))
    await appended(clinic, clinic.event("move", "1", to_location_id=clinic.room.id))
    await settled(app, clock)
    assert await discrepancies(clinic) == []


async def test_an_override_and_a_record_breaking_rules_each_open_theirs(
    clinic, app, clock, integration_at
):
    supplier = {"name": "No DEA Wholesale", "address": {"line1": "1 Road", "city": "Austin",
                "state": "TX", "postal_code": "78701"}}  # fmt: skip
    overridden = await appended(clinic, clinic.event(
        "receipt", counterparty=supplier, override_reason="supplier's number on the box",
    ))  # fmt: skip
    integration = await integration_at(clinic.registrant.id, "sessions", sub="ehr")
    nurse = clinic.nurse.id
    recorded = await appended(clinic, clinic.event(
        "waste", "1", performed_by=nurse, witness_ids=[nurse],
    ), integration)  # fmt: skip
    await settled(app, clock)

    found = {(d["rule"], d["severity"], tuple(d["event_ids"])) for d in await discrepancies(clinic)}
    assert found == {
        ("override_used", "minor", (overridden["id"],)),
        ("witness_is_performer", "significant", (recorded["id"],)),
        ("witness_missing", "significant", (recorded["id"],)),
    }
    moved = f"{clinic.product.name} (lot {clinic.lot.lot_number}) at {clinic.vault.name}"
    summaries = {d["rule"]: d["summary"] for d in await discrepancies(clinic)}
    assert summaries == {
        "override_used": f"Receipt of 10 mL of {moved}: counterparty dea invalid overridden, "
                         "because supplier's number on the box",
        "witness_is_performer": f"Waste of 1 mL of {moved}, recorded after the fact, broke a "
                                "rule: witness is performer",
        "witness_missing": f"Waste of 1 mL of {moved}, recorded after the fact, broke a rule: "
                           "witness missing",
    }  # fmt: skip


async def test_a_message_handed_over_twice_opens_one_discrepancy(clinic, app, clock):
    event, found = await stolen(clinic, app, clock)
    message = Message(id=0, registrant_id=uuid.UUID(clinic.registrant.id),
                      topic="ledger.event_appended", payload={"event_id": event["id"]},
                      created_at=clock.now())  # fmt: skip
    async with app.state.database.transaction() as session:
        await subscribers.on_event_appended(session, message)
    assert [d["id"] for d in await discrepancies(clinic)] == [found["id"]]


async def test_a_discrepancy_moves_forward_and_keeps_every_transition(clinic, app, clock):
    await appended(clinic, clinic.event("receipt"))
    await appended(clinic, clinic.event("loss", "1", loss={"discovered_at": START.isoformat(),
                                                           "kind": "other"}))  # fmt: skip
    await settled(app, clock)
    [found] = await discrepancies(clinic)
    assert (found["rule"], found["severity"]) == ("loss", "significant")

    assert (await move(clinic, found, to="acknowledged")).status_code == 200
    unresolved = await move(clinic, found, to="resolved")
    assert_problem(unresolved, 422, "invalid-input", pointer="#/reason_code")
    vague = await move(clinic, found, to="resolved", reason_code="other")
    assert_problem(vague, 422, "invalid-input", pointer="#/note")
    resolved = await move(clinic, found, to="resolved", reason_code="count_error",
                          note="vial miscounted at close of business")  # fmt: skip
    assert resolved.status_code == 200, resolved.text
    shown = resolved.json()
    assert (shown["status"], shown["reason_code"], shown["version"]) == (
        "resolved", "count_error", 3,
    )  # fmt: skip
    assert [(t["from_status"], t["to_status"], t["by_subject"]) for t in shown["transitions"]] == [
        ("open", "acknowledged", "officer-1"), ("acknowledged", "resolved", "officer-1"),
    ]  # fmt: skip
    assert shown["events"][0]["type"] == "loss"
    assert_problem(await move(clinic, found, to="acknowledged"), 409, "transition-not-allowed")


async def test_a_theft_is_reported_straight_away_with_its_notice_date_and_reference(
    clinic, app, clock
):
    _event, found = await stolen(clinic, app, clock)
    undated = await move(clinic, found, to="reported")
    assert_problem(undated, 422, "invalid-input", pointer="#/reported_on")
    report = {"to": "reported", "reported_on": "2026-03-02", "report_reference": "DEA-106-42"}
    unnoticed = await move(clinic, found, **report)
    assert_problem(unnoticed, 422, "invalid-input", pointer="#/notice_given_on")
    early = await move(clinic, found, **report | {"notice_given_on": "2026-02-26"})
    assert_problem(early, 422, "invalid-input", pointer="#/notice_given_on")
    ahead = await move(clinic, found, **report | {"notice_given_on": "2026-03-02",
                                                  "reported_on": "2026-03-03"})  # fmt: skip
    assert_problem(ahead, 422, "invalid-input", pointer="#/reported_on")
    reported = await move(clinic, found, **report | {"notice_given_on": "2026-03-02"})
    assert reported.status_code == 200, reported.text
    shown = reported.json()
    assert (shown["status"], shown["notice_given_on"], shown["report_reference"]) == (
        "reported", "2026-03-02", "DEA-106-42",
    )  # fmt: skip


async def test_a_theft_is_never_resolved_without_a_report(clinic, app, clock):
    _event, found = await stolen(clinic, app, clock)
    assert (await move(clinic, found, to="acknowledged")).status_code == 200
    for to in ("resolved", "unable_to_reconcile"):
        closing = await move(clinic, found, to=to, reason_code="count_error")
        assert_problem(closing, 409, "transition-not-allowed")


async def test_an_officer_does_not_move_what_they_recorded_themselves(
    clinic, app, clock, token, probe
):
    """A compliance officer without a staff row records a loss: the token's subject is kept
    with the discrepancy, and that officer does not move it."""
    await appended(clinic, clinic.event("receipt"))
    loss = clinic.event("loss", "1", loss={"discovered_at": START.isoformat(), "kind": "other"})
    await appended(clinic, loss, clinic.officer_token)
    await settled(app, clock)
    [found] = await discrepancies(clinic)
    assert found["subjects"] == ["officer-1"]
    await assert_refused(
        clinic.client, probe, "POST", f"/v1/discrepancies/{found['id']}/transitions",
        status=403, problem=PROBLEM + "own-work", subject="officer-1",
        headers=bearer(clinic.officer_token), json={"to": "acknowledged"},
    )  # fmt: skip
    second = token(["compliance_officer"], [clinic.registrant.id], sub="officer-2")
    assert (await move(clinic, found, second, to="acknowledged")).status_code == 200


async def test_what_is_not_reportable_goes_through_acknowledgement(clinic, app, clock):
    await appended(clinic, clinic.event("receipt", override_reason="checked by phone",
                                        counterparty={**clinic.event("receipt")["counterparty"],
                                                      "dea_number": None}))  # fmt: skip
    await settled(app, clock)
    [found] = await discrepancies(clinic)
    premature = await move(clinic, found, to="reported", reported_on="2026-03-02",
                           report_reference="X")  # fmt: skip
    assert_problem(premature, 409, "transition-not-allowed")


async def test_nobody_moves_a_discrepancy_about_their_own_work(clinic, app, clock, token, probe):
    _event, found = await stolen(clinic, app, clock)
    # The nurse who recorded the theft is also a compliance officer by token.
    own = token(["compliance_officer"], [clinic.registrant.id], sub="nurse-1", name="Nora")
    await assert_refused(
        clinic.client, probe, "POST", f"/v1/discrepancies/{found['id']}/transitions",
        status=403, problem=PROBLEM + "own-work", subject="nurse-1", headers=bearer(own),
        json={"to": "acknowledged"},
    )  # fmt: skip


async def test_only_compliance_officers_of_the_registrant_see_and_move_them(
    clinic, app, clock, token, admin_token, probe
):
    _event, found = await stolen(clinic, app, clock)
    path = f"/v1/discrepancies/{found['id']}"
    denied = await clinic.client.get(path, headers=bearer(clinic.nurse_token))
    assert_problem(denied, 403, "permission-denied")
    other = await create_registrant(clinic.client, admin_token)
    stranger = token(["compliance_officer"], [other["id"]], sub="officer-9")
    assert_problem(await clinic.client.get(path, headers=bearer(stranger)), 404, "not-found")
    await assert_refused(
        clinic.client, probe, "POST", f"{path}/transitions", status=404,
        problem=PROBLEM + "not-found", subject="officer-9", headers=bearer(stranger),
        json={"to": "acknowledged"},
    )  # fmt: skip


def _finding(fingerprint: str = "count_variance:vault:L-100") -> Finding:
    return Finding(rule="count_variance", severity=Severity.minor, fingerprint=fingerprint,
                   summary="count short by 1 mL")  # fmt: skip


async def _record(
    app, clinic: Clinic, at: datetime, *, event_ids: tuple[str, ...] = (),
    staff_ids: tuple[str, ...] = (), about: Subject = NO_SUBJECT,
) -> uuid.UUID:  # fmt: skip
    async with app.state.database.transaction() as session:
        found = await service.record_finding(
            session, registrant_id=uuid.UUID(clinic.registrant.id), finding=_finding(),
            now=at, event_ids=[uuid.UUID(e) for e in event_ids],
            staff_ids=[uuid.UUID(s) for s in staff_ids], about=about,
        )  # fmt: skip
        return found.discrepancy.id


async def test_a_finding_found_again_updates_its_open_discrepancy(clinic, app):
    first = await _record(app, clinic, START)
    again = await _record(app, clinic, START + timedelta(days=1))
    assert again == first
    [found] = await discrepancies(clinic)
    assert (found["first_found_at"], found["last_found_at"]) == (
        "2026-03-02T15:00:00Z", "2026-03-03T15:00:00Z",
    )  # fmt: skip


async def test_a_finding_found_again_names_more_and_forgets_nothing(clinic, app):
    """One opened before findings named their subject gains it; the events and people it
    names grow, so whoever's work it was still may not close it."""
    first = await appended(clinic, clinic.event("receipt", "10"))
    second = await appended(clinic, clinic.event("receipt", "5"))
    await _record(app, clinic, START, event_ids=(first["id"],), staff_ids=(clinic.nurse.id,))
    place = Subject(location_id=uuid.UUID(clinic.vault.id), lot_id=uuid.UUID(clinic.lot.id))
    await _record(app, clinic, START + timedelta(days=1), event_ids=(second["id"], first["id"]),
                  staff_ids=(clinic.witness.id,), about=place)  # fmt: skip
    await _record(app, clinic, START + timedelta(days=2), event_ids=(second["id"],))
    [found] = await discrepancies(clinic)
    assert (found["location"]["name"], found["lot"]["lot_number"]) == (
        clinic.vault.name, clinic.lot.lot_number)  # fmt: skip
    assert found["event_ids"] == [first["id"], second["id"]]
    assert found["staff_ids"] == [clinic.nurse.id, clinic.witness.id]


async def test_a_finding_that_recurs_after_resolution_opens_a_new_linked_one(clinic, app):
    first = await _record(app, clinic, START)
    found = {"id": str(first)}
    await move(clinic, found, to="acknowledged")
    resolved = await move(clinic, found, to="resolved", reason_code="count_error")
    assert resolved.status_code == 200, resolved.text
    recurred = await _record(app, clinic, START + timedelta(days=2))
    assert recurred != first
    listed = {d["id"]: d for d in await discrepancies(clinic)}
    assert (listed[str(recurred)]["status"], listed[str(recurred)]["previous_id"]) == (
        "open", str(first),
    )  # fmt: skip


async def test_concurrent_writers_of_one_finding_open_one_discrepancy(clinic, app):
    opened = await asyncio.gather(*(_record(app, clinic, START) for _ in range(4)))
    assert len(set(opened)) == 1
    assert len(await discrepancies(clinic)) == 1


async def test_two_officers_moving_one_discrepancy_at_once_make_one_transition(
    clinic, app, clock, token
):
    _event, found = await stolen(clinic, app, clock)
    second = token(["compliance_officer"], [clinic.registrant.id], sub="officer-2")
    responses = await asyncio.gather(
        move(clinic, found, to="acknowledged"), move(clinic, found, second, to="acknowledged")
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    shown = (await clinic.client.get(f"/v1/discrepancies/{found['id']}",
                                     headers=bearer(clinic.officer_token))).json()  # fmt: skip
    assert [(t["version"], t["to_status"]) for t in shown["transitions"]] == [(2, "acknowledged")]


async def test_a_theft_not_reported_in_time_is_flagged_overdue(clinic, app, clock):
    """Discovered on Friday 27 February: notice due Monday 2 March, Form 106 by 13 April."""
    _event, found = await stolen(clinic, app, clock)
    clock.set(datetime(2026, 3, 3, 15, tzinfo=UTC))  # Tuesday, no notice given
    period = runs.Period(date(2026, 3, 2), date(2026, 3, 2))
    async with app.state.database.transaction() as session:
        registrant = await session.get(Registrant, uuid.UUID(clinic.registrant.id))
        result = await runs.reconcile(session, registrant, period, app.state.settings, clock.now())
    assert result["findings"].get("dea_report_overdue") == 1
    [overdue] = await discrepancies(clinic, rule="dea_report_overdue")
    assert (overdue["severity"], overdue["summary"], overdue["details"]["discrepancy_id"]) == (
        "critical",
        "Written notice (due 2026-03-02) overdue to the DEA, for theft of 2 mL of Ketamine HCl "
        "injection 50 mg/mL, 10 mL vial (lot L-100) at Vault, discovered 2026-02-27 17:00 CST",
        found["id"],
    )  # fmt: skip
    reported = await move(clinic, found, to="reported", notice_given_on="2026-03-02",
                          reported_on="2026-03-03", report_reference="DEA-106-7")  # fmt: skip
    assert reported.status_code == 200, reported.text
    async with app.state.database.transaction() as session:
        registrant = await session.get(Registrant, uuid.UUID(clinic.registrant.id))
        again = await runs.reconcile(session, registrant, period, app.state.settings, clock.now())
    assert "dea_report_overdue" not in again["findings"]
