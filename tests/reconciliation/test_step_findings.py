"""Workflow steps that break rules reach reconciliation through the outbox: an overridden
session step is reviewed, a record's broken rules each open a discrepancy."""

from datetime import date
from typing import Any

import pytest

from app.ledger.rules import Rule
from app.reconciliation.findings import BROKEN_RULE_SEVERITY
from app.worker import Worker
from tests.clinical.ward import Ward, at, open_ward
from tests.conftest import bearer
from tests.pharmacy.dispensary import Dispensary, open_dispensary


async def settled(app, clock) -> None:
    await Worker(app.state.database, app.state.settings, clock, periodic=()).run_until_idle()


async def discrepancies(client, registrant_id: str, token: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/discrepancies", params={"registrant_id": registrant_id},
                                headers=bearer(token))  # fmt: skip
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


async def test_a_prescribers_override_in_a_session_is_opened_for_review(ward, app, clock):
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    beyond = {"lot_id": ward.vial_lot.id, "quantity": "0.9", "started_at": at(10),
              "ended_at": at(50), "override_reason": "patient weighed again: 82 kg"}  # fmt: skip
    given = await ward.step(ts, "administrations", beyond, ward.prescriber_token)
    await settled(app, clock)
    [found] = await discrepancies(ward.client, ward.id, ward.officer_token)
    assert (found["rule"], found["severity"], found["status"]) == ("override_used", "minor", "open")
    assert found["details"] == {"session_id": ts["id"], "step": "administration",
                                "rules": ["dose_beyond_plan"]}  # fmt: skip
    assert found["event_ids"] == [given["event"]["id"]]
    assert found["subjects"] == ["prescriber-1"]
    assert set(found["staff_ids"]) == {ward.nurse.id, ward.witness.id}
    assert found["summary"] == ("A session's administration: dose beyond plan overridden, "
                                "because patient weighed again: 82 kg")  # fmt: skip
    assert found["session_id"] == ts["id"]


async def test_a_back_dated_esketamine_session_opens_a_critical_discrepancy(ward, app, clock):
    patient = await ward.add_patient()  # not enrolled in the REMS
    plan = await ward.add_plan(patient, modality="esketamine_nasal", dose_mg="56",
                               starts_on="2026-02-27")  # fmt: skip
    body = ward.session_body("esketamine", patient_id=patient.id, plan_id=plan.id,
                             scheduled_at="2026-02-28T09:00:00-06:00")  # fmt: skip
    created = await ward.post("/v1/sessions", body)
    assert created.status_code == 201, created.text
    await settled(app, clock)
    [found] = await discrepancies(ward.client, ward.id, ward.officer_token)
    assert (found["rule"], found["severity"]) == ("rems_patient_not_enrolled", "critical")
    assert found["details"]["session_id"] == created.json()["id"]
    assert found["session_id"] == created.json()["id"]
    assert found["summary"] == ("A session's scheduling, recorded after the fact, broke a rule: "
                                "rems patient not enrolled")  # fmt: skip


async def test_a_late_fill_after_six_months_opens_its_discrepancy(dispensary, app, clock, token):
    rx = await dispensary.receive()
    dispensary.on(date(2026, 9, 10))
    late = dispensary.fill_body("2026-09-08T16:00:00Z")  # two days ago: a late entry
    response = await dispensary.fill(rx, late)
    assert response.status_code == 201, response.text
    await settled(app, clock)
    officer = token(["compliance_officer"], [dispensary.id], sub="rph-officer")
    [found] = await discrepancies(dispensary.client, dispensary.id, officer)
    assert (found["rule"], found["severity"], found["subjects"]) == (
        "fill_after_six_months", "significant", ["rph-1"],
    )  # fmt: skip
    fill = response.json()["fills"][0]["id"]
    assert found["summary"] == (f"A prescription's fill {fill}, recorded after the fact, broke a "
                                "rule: fill after six months")  # fmt: skip
    assert found["event_ids"] == [response.json()["fills"][0]["event_id"]]


async def test_a_step_that_breaks_nothing_opens_nothing(dispensary, app, clock, token):
    rx = await dispensary.receive()
    response = await dispensary.fill(rx, dispensary.fill_body(dispensary.on(date(2026, 3, 2))))
    assert response.status_code == 201, response.text
    await settled(app, clock)
    officer = token(["compliance_officer"], [dispensary.id], sub="rph-officer")
    assert await discrepancies(dispensary.client, dispensary.id, officer) == []


def test_every_ledger_rule_has_a_severity_for_the_records_that_break_it():
    assert set(BROKEN_RULE_SEVERITY) == set(Rule)
