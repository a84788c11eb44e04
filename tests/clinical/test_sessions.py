"""Treatment sessions through HTTP, rule by rule: each with a step that breaks it, one that
keeps it and, where the rule allows one, a prescriber's override (kept in the session's
``broken_rules``). The REMS rules are never overridden; an integration's step is a record,
stored with what it broke. Stock moves only through the session's own holding, and the
session's accounting stays balanced under concurrent steps."""

import asyncio
import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.core.clock import FrozenClock
from app.core.config import Settings
from tests.clinical.ward import SUPPLIER, Ward, at, open_ward
from tests.conftest import START, DatabaseProbe, bearer
from tests.factories import assert_problem, assert_refused, create_registrant, walk_pages

PROBLEM = "urn:csledger:problem:"
NURSE, PRESCRIBER = "nurse-1", "prescriber-1"
OVERRIDE = "reviewed by the prescriber at the bedside"
NOW = START.isoformat().replace("+00:00", "Z")
STABLE = {"stable": True, "assessed_at": at(125)}
OBSERVED = {"sedation": False, "dissociation": True, "respiratory_depression": False}
_KEYS = itertools.count(1)


@pytest.fixture
def app_settings(app_settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The suite's settings, with the changes a test names by indirect parametrisation."""
    changes = getattr(request, "param", None)
    return app_settings.model_copy(update=changes) if changes else app_settings


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


def pointers(problem: dict[str, Any]) -> list[str]:
    return [error.get("pointer") for error in problem.get("errors", [])]


def mg(accounting: dict[str, Any]) -> dict[str, Decimal]:
    return {name: Decimal(value) for name, value in accounting.items() if name.endswith("_mg")}


async def refused(
    ward: Ward,
    probe: DatabaseProbe,
    path: str,
    body: dict[str, Any],
    slug: str,
    *,
    status: int = 422,
    token: str | None = None,
    subject: str = NURSE,
) -> dict[str, Any]:
    """POST ``body``: refused with ``slug``, nothing written but the audit row."""
    headers = bearer(token or ward.nurse_token) | {"Idempotency-Key": f"refused-{next(_KEYS)}"}
    response = await assert_refused(
        ward.client, probe, "POST", path, status=status, problem=PROBLEM + slug,
        subject=subject, headers=headers, json=body,
    )  # fmt: skip
    problem: dict[str, Any] = response.json()
    return problem


async def posted(
    ward: Ward, ts: dict[str, Any], what: str, body: dict[str, Any], token: str | None = None
) -> httpx.Response:
    return await ward.post(f"/v1/sessions/{ts['id']}/{what}", body, token)


def infusion(ward: Ward, quantity: str, start: float = 10, end: float = 50, **extra: Any):
    return {"lot_id": ward.vial_lot.id, "quantity": quantity, "started_at": at(start),
            "ended_at": at(end)} | extra  # fmt: skip


def device(ward: Ward, minutes: float, **extra: Any) -> dict[str, Any]:
    return {"lot_id": ward.device_lot.id, "quantity": "1", "started_at": at(minutes)} | extra


def waste_body(ward: Ward, quantity: str, minutes: float = 52, **extra: Any) -> dict[str, Any]:
    return {"lot_id": ward.vial_lot.id, "quantity": quantity, "occurred_at": at(minutes),
            "witness_id": ward.witness.id} | extra  # fmt: skip


def discharge_body(minutes: float, **extra: Any) -> dict[str, Any]:
    """Discharged ``minutes`` after T0, assessed stable then (or at 125, if later)."""
    stable = STABLE | {"assessed_at": at(min(minutes, 125))}
    return {"discharged_at": at(minutes), "clinical_stability": stable,
            "observations": OBSERVED} | extra  # fmt: skip


class Partial(dict[str, Any]):
    """A dict equal to any dict holding its items (and maybe more)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, dict) and all(other.get(k, ...) == v for k, v in self.items())

    __hash__ = None


def entry(step: str, rules: list[str], reason: str | None, *, record: bool, by: str):
    """A ``broken_rules`` entry of the session as the API shows it; an instruction overridden
    is authorized by whoever took it (a prescriber's own step). The staff ids and names beside
    ``by`` are checked in tests/clinical/test_session_authorizations.py."""
    overridden = reason is not None and not record
    return Partial(
        step=step, rules=rules, override_reason=reason, record=record, by=by, at=NOW,
        authorization_id=None, authorized_by=by if overridden else None,
        authorized_at=NOW if overridden else None,
    )  # fmt: skip


async def infused(ward: Ward, quantity: str = "0.7", withdrawn: str = "1") -> dict[str, Any]:
    """An IV session (35 mg planned) with ``withdrawn`` mL drawn and ``quantity`` infused."""
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, withdrawn)
    await ward.step(ts, "administrations", infusion(ward, quantity))
    return ts


async def dosed(
    ward: Ward, devices: int = 3, withdrawn: str = "3", scheduled_at: str = at(0)
) -> dict[str, Any]:
    """An esketamine session: a pre-dose reading, then ``devices`` devices 5 minutes apart
    from 10 minutes on."""
    ts = await ward.open_session("esketamine", scheduled_at=scheduled_at)
    await ward.vitals(ts, "pre_dose", 2)
    await ward.withdraw(ts, withdrawn, lot="device")
    for n in range(devices):
        await ward.step(ts, "administrations", device(ward, 10 + 5 * n))
    return ts


async def monitored(ward: Ward) -> dict[str, Any]:
    """An esketamine session given 84 mg from 10 minutes on, with its post-dose (50) and
    pre-discharge (128) readings: ready for discharge from 130 minutes."""
    ts = await dosed(ward)
    await ward.vitals(ts, "post_dose", 50)
    await ward.vitals(ts, "pre_discharge", 128)
    return ts


# Scheduling


async def test_an_iv_session_expects_the_plans_mg_per_kg_times_the_days_weight(ward: Ward):
    ts = await ward.open_session("iv", weight_kg="72.5")
    assert (ts["status"], ts["modality"], ts["weight_kg"], ts["expected_dose_mg"]) == (
        "scheduled", "iv_infusion", "72.5", "36.25",
    )  # fmt: skip
    assert (ts["version"], ts["broken_rules"], ts["created_by"]) == (1, [], NURSE)
    assert (ts["events"], ts["administrations"], ts["vitals"], ts["monitoring_form"]) == (
        [], [], [], None,
    )  # fmt: skip
    assert mg(ts["accounting"]) == dict.fromkeys(
        ("withdrawn_mg", "administered_mg", "wasted_mg", "returned_mg", "on_hand_mg"), 0
    )
    holding = await ward.get(f"/v1/registrants/{ward.id}/locations/{ts['holding_location_id']}")
    assert holding.status_code == 200, holding.text
    assert (holding.json()["kind"], holding.json()["session_id"], holding.json()["active"]) == (
        "in_use", ts["id"], True,
    )  # fmt: skip


async def test_a_session_is_answered_and_kept_as_it_is_read_back(ward: Ward):
    created = await ward.open_session("iv", scheduled_at="2026-03-02T04:00:00-06:00")
    await ward.withdraw(created, "1")
    history = (await ward.get(f"/v1/sessions/{created['id']}/history")).json()
    fetched = await ward.session(created)
    assert [r["data"]["scheduled_at"] for r in history] == ["2026-03-02T10:00:00Z"] * 2
    assert created["scheduled_at"] == fetched["scheduled_at"]


async def test_an_esketamine_session_expects_the_plans_dose_whatever_the_weight(ward: Ward):
    """An enrolled patient in a certified setting: the REMS rules are kept."""
    ts = await ward.open_session("esketamine", weight_kg="95")
    assert (ts["modality"], ts["expected_dose_mg"]) == ("esketamine_nasal", "84")
    assert (ts["status"], ts["broken_rules"]) == ("scheduled", [])
    assert ts["monitoring_form"]["missing"] == [
        "pre_dose", "post_dose", "pre_discharge", "clinical_stability", "observations",
    ]  # fmt: skip


async def test_an_iv_session_needs_the_days_weight(ward: Ward, probe):
    body = ward.session_body("iv")
    del body["weight_kg"]
    problem = await refused(ward, probe, "/v1/sessions", body, "invalid-input")
    assert pointers(problem) == ["#/weight_kg"]


async def an_uncertified_setting(ward: Ward) -> dict[str, Any]:
    admin = ward.token(["admin"], ["*"], sub="platform-admin")
    changed = await ward.client.patch(
        f"/v1/registrants/{ward.id}", json={"rems_certification_status": "suspended"},
        headers=bearer(admin),
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    return ward.session_body("esketamine")


async def an_unenrolled_patient(ward: Ward) -> dict[str, Any]:
    patient = await ward.add_patient()
    plan = await ward.add_plan(patient, modality="esketamine_nasal", dose_mg="56")
    return ward.session_body("esketamine", patient_id=patient.id, plan_id=plan.id)


REMS_BREAKS = {
    "setting not certified": (an_uncertified_setting, "rems_setting_not_certified"),
    "patient not enrolled": (an_unenrolled_patient, "rems_patient_not_enrolled"),
}


@pytest.mark.parametrize(("make", "rule"), REMS_BREAKS.values(), ids=REMS_BREAKS)
async def test_the_spravato_rems_is_never_overridden(ward: Ward, probe, make, rule):
    body = await make(ward)
    slug = rule.replace("_", "-")
    problem = await refused(ward, probe, "/v1/sessions", body, slug)
    assert problem["broken_rules"] == [rule]
    for token, subject in ((ward.nurse_token, NURSE), (ward.prescriber_token, PRESCRIBER)):
        problem = await refused(
            ward, probe, "/v1/sessions", body | {"override_reason": OVERRIDE}, slug,
            token=token, subject=subject,
        )  # fmt: skip
        assert "no override" in problem["detail"]


async def test_an_uncertified_setting_still_holds_iv_sessions(ward: Ward):
    await an_uncertified_setting(ward)
    ts = await ward.open_session("iv")
    assert (ts["status"], ts["broken_rules"]) == ("scheduled", [])


OUTSIDE_THE_PLAN = {
    "the day before it starts": ({"starts_on": "2026-03-03"}, at(0)),
    "the day after it ends": ({"ends_on": "2026-03-31"}, "2026-04-01T00:00:00-05:00"),
}


@pytest.mark.parametrize(("dates", "day"), OUTSIDE_THE_PLAN.values(), ids=OUTSIDE_THE_PLAN)
async def test_a_session_outside_the_plans_dates_needs_a_prescribers_override(
    ward: Ward, probe, dates, day
):
    plan = await ward.add_plan(ward.iv_patient, modality="iv_infusion", dose_mg_per_kg="0.5",
                               **dates)  # fmt: skip
    body = ward.session_body("iv", plan_id=plan.id, scheduled_at=day)
    problem = await refused(ward, probe, "/v1/sessions", body, "outside-plan-dates")
    assert problem["broken_rules"] == ["outside_plan_dates"]
    overridden = body | {"override_reason": OVERRIDE}
    await refused(ward, probe, "/v1/sessions", overridden, "permission-denied", status=403)

    response = await ward.post("/v1/sessions", overridden, ward.prescriber_token)
    assert response.status_code == 201, response.text
    assert response.json()["broken_rules"] == [
        entry("scheduling", ["outside_plan_dates"], OVERRIDE, record=False, by=PRESCRIBER)
    ]


async def test_the_plans_first_and_last_days_are_the_clinics_own(ward: Ward):
    """2026-03-02 00:00 in Chicago is 06:00 UTC; 2026-03-31 23:59 there is 04:59 UTC on 1 April."""
    plan = await ward.add_plan(ward.iv_patient, modality="iv_infusion", dose_mg_per_kg="0.5",
                               starts_on="2026-03-02")  # fmt: skip
    for day in ("2026-03-02T00:00:00-06:00", "2026-03-31T23:59:00-05:00"):
        ts = await ward.open_session("iv", plan_id=plan.id, scheduled_at=day)
        assert ts["broken_rules"] == [], day


async def test_a_third_session_in_a_week_of_a_two_per_week_plan_needs_an_override(
    ward: Ward, probe
):
    monday = await ward.open_session("iv")
    wednesday = await ward.open_session("iv", scheduled_at="2026-03-04T09:00:00-06:00")
    friday = ward.session_body("iv", scheduled_at="2026-03-06T09:00:00-06:00")
    problem = await refused(ward, probe, "/v1/sessions", friday, "plan-sessions-exceeded")
    assert problem["broken_rules"] == ["plan_sessions_exceeded"]
    assert problem["detail"] == (
        "plan sessions exceeded: 2 of the plan's 2 sessions a week are held or scheduled in the "
        "week of Mon 02 Mar 2026 to Sun 08 Mar 2026 (America/Chicago); send override_reason "
        "to proceed anyway"
    )
    overridden = friday | {"override_reason": OVERRIDE}
    await refused(ward, probe, "/v1/sessions", overridden, "permission-denied", status=403)
    response = await ward.post("/v1/sessions", overridden, ward.prescriber_token)
    assert response.status_code == 201, response.text
    assert response.json()["broken_rules"] == [
        entry("scheduling", ["plan_sessions_exceeded"], OVERRIDE, record=False, by=PRESCRIBER)
    ]
    assert monday["broken_rules"] == wednesday["broken_rules"] == []
    next_monday = await ward.open_session("iv", scheduled_at="2026-03-09T09:00:00-05:00")
    assert next_monday["broken_rules"] == []


async def test_an_aborted_session_does_not_count_against_the_week(ward: Ward, probe):
    first = await ward.open_session("iv")
    await ward.open_session("iv", scheduled_at="2026-03-04T09:00:00-06:00")
    third = ward.session_body("iv", scheduled_at="2026-03-06T09:00:00-06:00")
    await refused(ward, probe, "/v1/sessions", third, "plan-sessions-exceeded")
    await ward.step(first, "abort", {"aborted_at": at(1), "reason": "patient cancelled"})
    response = await ward.post("/v1/sessions", third)
    assert response.status_code == 201, response.text
    assert response.json()["broken_rules"] == []


async def test_the_week_runs_monday_to_sunday_on_the_clinics_clock(ward: Ward):
    """Sunday 8 March 23:30 in Chicago is already Monday 05:30 UTC: still the first week."""
    await ward.open_session("iv")
    await ward.open_session("iv", scheduled_at="2026-03-08T23:30:00-05:00")
    sunday = ward.session_body("iv", scheduled_at="2026-03-08T23:45:00-05:00")
    response = await ward.post("/v1/sessions", sunday)
    assert_problem(response, 422, "plan-sessions-exceeded")
    monday = await ward.open_session("iv", scheduled_at="2026-03-09T02:00:00-05:00")
    assert monday["broken_rules"] == []


async def test_a_plans_total_sessions_are_counted_across_its_weeks(ward: Ward):
    plan = await ward.add_plan(ward.iv_patient, modality="iv_infusion", dose_mg_per_kg="0.5",
                               sessions_per_week=3, total_sessions=2)  # fmt: skip
    body = ward.session_body("iv", plan_id=plan.id)
    for day in ("2026-03-02T08:00:00-06:00", "2026-03-10T08:00:00-05:00"):
        created = await ward.post("/v1/sessions", body | {"scheduled_at": day})
        assert created.status_code == 201, created.text
    third = await ward.post("/v1/sessions", body | {"scheduled_at": "2026-03-17T08:00:00-05:00"})
    assert assert_problem(third, 422, "plan-sessions-exceeded")["broken_rules"] == [
        "plan_sessions_exceeded"
    ]


async def another_patients_plan(ward: Ward) -> tuple[dict[str, Any], list[str]]:
    return ward.session_body("iv", plan_id=ward.esketamine_plan.id), ["#/plan_id"]


async def an_at_home_plan(ward: Ward) -> tuple[dict[str, Any], list[str]]:
    plan = await ward.add_plan(ward.iv_patient, modality="compounded_at_home",
                               mg_per_unit="100", units_per_dose="1")  # fmt: skip
    return ward.session_body("iv", plan_id=plan.id), ["#/plan_id"]


async def a_discontinued_plan(ward: Ward) -> tuple[dict[str, Any], list[str]]:
    stopped = await ward.client.patch(
        f"/v1/treatment-plans/{ward.iv_plan.id}",
        json={"status": "discontinued", "status_reason": "nausea"},
        headers=bearer(ward.prescriber_token),
    )
    assert stopped.status_code == 200, stopped.text
    return ward.session_body("iv"), ["#/plan_id"]


async def a_holding_as_the_room(ward: Ward) -> tuple[dict[str, Any], list[str]]:
    other = await ward.open_session("esketamine")
    return ward.session_body("iv", location_id=other["holding_location_id"]), ["#/location_id"]


NOT_SCHEDULABLE = {
    "another patient's plan": (another_patients_plan, "invalid-reference"),
    "an at-home plan": (an_at_home_plan, "invalid-reference"),
    "a session's holding as the room": (a_holding_as_the_room, "invalid-reference"),
    "a discontinued plan": (a_discontinued_plan, "invalid-input"),
}


async def test_a_session_needs_an_active_in_clinic_plan_of_its_patient_and_a_room(
    ward: Ward, probe
):
    """No override helps; the discontinued plan comes last (it is the ward's IV plan)."""
    for name, (make, slug) in NOT_SCHEDULABLE.items():
        body, expected = await make(ward)
        problem = await refused(
            ward, probe, "/v1/sessions", body | {"override_reason": OVERRIDE}, slug,
            token=ward.prescriber_token, subject=PRESCRIBER,
        )  # fmt: skip
        assert pointers(problem) == expected, name


# States


async def test_nothing_is_given_before_it_is_withdrawn(ward: Ward, probe):
    ts = await ward.open_session("iv")
    path = f"/v1/sessions/{ts['id']}/administrations"
    await refused(ward, probe, path, infusion(ward, "0.7"), "session-state", status=409)
    await ward.withdraw(ts, "1")
    given = await ward.step(ts, "administrations", infusion(ward, "0.7"))
    assert given["session"]["status"] == "observing"


async def test_more_is_withdrawn_after_the_dose_only_for_the_dose_rule_to_judge(ward: Ward):
    """Observing is no bar to another withdrawal: what is given beyond the plan is judged by
    the dose rule."""
    ts = await infused(ward)
    body = {"lot_id": ward.vial_lot.id, "from_location_id": ward.vault.id,
            "quantity": "1", "occurred_at": at(55)}  # fmt: skip
    again = await ward.step(ts, "withdrawals", body)
    assert again["session"]["status"] == "observing"
    assert mg(again["session"]["accounting"])["withdrawn_mg"] == Decimal(100)
    more = {"lot_id": ward.vial_lot.id, "quantity": "0.2", "started_at": at(56),
            "ended_at": at(58)}  # fmt: skip
    response = await ward.post(f"/v1/sessions/{ts['id']}/administrations", more)
    assert_problem(response, 422, "dose-beyond-plan")


async def test_a_scheduled_session_is_aborted_not_discharged(ward: Ward, probe):
    ts = await ward.open_session("iv")
    path = f"/v1/sessions/{ts['id']}/discharge"
    await refused(ward, probe, path, {"discharged_at": at(1)}, "session-state", status=409)
    aborted = await ward.step(ts, "abort", {"aborted_at": at(1), "reason": "patient unwell"})
    assert (aborted["status"], aborted["end_reason"], aborted["ended_at"]) == (
        "aborted", "patient unwell", at(1).replace("+00:00", "Z"),
    )  # fmt: skip
    holding = await ward.get(f"/v1/registrants/{ward.id}/locations/{ts['holding_location_id']}")
    assert holding.json()["active"] is False


async def test_an_abort_with_stock_in_the_holding_states_why(ward: Ward, probe):
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    body = {"aborted_at": at(8), "reason": "line could not be placed"}
    path = f"/v1/sessions/{ts['id']}/abort"
    await refused(ward, probe, path, body, "holding-not-empty")
    future = body | {"aborted_at": at(306), "unresolved_reason": "vial sent to pharmacy"}
    problem = await refused(ward, probe, path, future, "invalid-input")
    assert pointers(problem) == ["#/aborted_at"]
    aborted = await ward.step(ts, "abort", body | {"unresolved_reason": "vial sent to pharmacy"})
    assert (aborted["status"], aborted["unresolved_mg"]) == ("aborted", "50")


def steps_after_the_end(ward: Ward) -> dict[str, dict[str, Any]]:
    return {
        "withdrawals": {"lot_id": ward.vial_lot.id, "from_location_id": ward.vault.id,
                        "quantity": "1", "occurred_at": at(120)},
        "administrations": infusion(ward, "0.1", 120, 125),
        "waste": waste_body(ward, "0.1", 120),
        "returns": {"lot_id": ward.vial_lot.id, "quantity": "0.1",
                    "to_location_id": ward.vault.id, "occurred_at": at(120)},
        "vitals": {"measured_at": at(120), "moment": "monitoring", "systolic_mmhg": 120,
                   "diastolic_mmhg": 80, "heart_rate_bpm": 70},
        "discharge": {"discharged_at": at(120)},
        "abort": {"aborted_at": at(120), "reason": "again"},
    }  # fmt: skip


async def test_a_discharged_session_takes_only_witness_confirmations(ward: Ward, probe):
    ts = await infused(ward)
    wasted = await ward.step(ts, "waste", waste_body(ward, "0.3"))
    await ward.step(ts, "discharge", {"discharged_at": at(100)})
    for what, body in steps_after_the_end(ward).items():
        path = f"/v1/sessions/{ts['id']}/{what}"
        await refused(ward, probe, path, body, "session-state", status=409)

    confirmed = await ward.step(
        ts, "witness-confirmations", {"event_id": wasted["event"]["id"]}, ward.witness_token
    )
    assert [e["witness_status"] for e in confirmed["events"]] == [
        "not_required", "not_required", "witnessed",
    ]  # fmt: skip
    assert (confirmed["status"], confirmed["version"]) == ("discharged", 5)


async def test_an_aborted_session_takes_no_step_nor_rems_submission(ward: Ward, probe):
    ts = await ward.open_session("esketamine")
    await ward.step(ts, "abort", {"aborted_at": at(1), "reason": "blood pressure too high"})
    steps = steps_after_the_end(ward) | {"rems-submission": {"submitted_on": "2026-03-02"}}
    for what, body in steps.items():
        path = f"/v1/sessions/{ts['id']}/{what}"
        await refused(ward, probe, path, body, "session-state", status=409)


# Administration


async def test_an_iv_dose_beyond_the_tolerance_needs_a_prescribers_override(
    ward: Ward, probe, app_settings: Settings
):
    """35 mg planned and 10 % tolerance: 38.5 mg (0.77 mL) is fine, 38.55 mg (0.771 mL) not."""
    assert app_settings.iv_dose_tolerance_percent == Decimal(10)
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    path = f"/v1/sessions/{ts['id']}/administrations"
    problem = await refused(ward, probe, path, infusion(ward, "0.771"), "dose-beyond-plan")
    assert problem["broken_rules"] == ["dose_beyond_plan"]

    given = await ward.step(ts, "administrations", infusion(ward, "0.77"))
    assert (given["event"]["mg"], given["event"]["broken_rules"]) == ("38.5", [])
    [administration] = given["session"]["administrations"]
    assert (administration["mg"], administration["broken_rules"]) == ("38.5", [])
    assert given["session"]["broken_rules"] == []

    other = await ward.open_session("iv", scheduled_at=at(60 * 24))
    await ward.withdraw(other, "1")
    path = f"/v1/sessions/{other['id']}/administrations"
    overridden = infusion(ward, "1", override_reason=OVERRIDE)
    await refused(ward, probe, path, overridden, "permission-denied", status=403)
    given = await ward.step(other, "administrations", overridden, ward.prescriber_token)
    [administration] = given["session"]["administrations"]
    assert (administration["mg"], administration["broken_rules"]) == ("50", ["dose_beyond_plan"])
    assert administration["override_reason"] == OVERRIDE
    assert administration["administered_by"] == ward.prescriber.id
    assert given["session"]["broken_rules"] == [
        entry("administration", ["dose_beyond_plan"], OVERRIDE, record=False, by=PRESCRIBER)
    ]


async def test_a_fourth_esketamine_device_on_an_84_mg_plan_is_beyond_the_plan(ward: Ward, probe):
    ts = await dosed(ward, withdrawn="4")
    path = f"/v1/sessions/{ts['id']}/administrations"
    problem = await refused(ward, probe, path, device(ward, 25), "dose-beyond-plan")
    assert problem["broken_rules"] == ["dose_beyond_plan"]
    given = await ward.step(
        ts, "administrations", device(ward, 25, override_reason=OVERRIDE), ward.prescriber_token
    )
    assert given["session"]["administrations"][-1]["broken_rules"] == ["dose_beyond_plan"]


async def test_the_first_device_needs_a_pre_dose_blood_pressure(ward: Ward, probe):
    ts = await ward.open_session("esketamine")
    await ward.withdraw(ts, "3", lot="device")
    await ward.vitals(ts, "pre_dose", 12)  # taken after the device: not before it
    path = f"/v1/sessions/{ts['id']}/administrations"
    problem = await refused(ward, probe, path, device(ward, 10), "predose-blood-pressure-missing")
    assert problem["broken_rules"] == ["predose_blood_pressure_missing"]

    given = await ward.step(ts, "administrations", device(ward, 12))
    assert given["session"]["administrations"][0]["broken_rules"] == []
    assert given["session"]["monitoring_form"]["bp_pre_dose"]["systolic_mmhg"] == 128

    unread = await ward.open_session("esketamine", scheduled_at=at(60 * 24))
    await ward.withdraw(unread, "1", lot="device")
    given = await ward.step(
        unread, "administrations", device(ward, 10, override_reason=OVERRIDE),
        ward.prescriber_token,
    )  # fmt: skip
    assert given["session"]["broken_rules"] == [
        entry("administration", ["predose_blood_pressure_missing"], OVERRIDE, record=False,
              by=PRESCRIBER),
    ]  # fmt: skip


@pytest.mark.parametrize(("systolic", "diastolic"), [(141, 90), (140, 91)])
async def test_a_pre_dose_blood_pressure_above_140_90_needs_a_prescriber(
    ward: Ward, probe, app_settings: Settings, systolic, diastolic
):
    assert (app_settings.esketamine_max_predose_systolic,
            app_settings.esketamine_max_predose_diastolic) == (140, 90)  # fmt: skip
    ts = await ward.open_session("esketamine")
    await ward.vitals(ts, "pre_dose", 2, systolic=systolic, diastolic=diastolic)
    await ward.withdraw(ts, "3", lot="device")
    path = f"/v1/sessions/{ts['id']}/administrations"
    problem = await refused(ward, probe, path, device(ward, 10), "blood-pressure-above-threshold")
    assert problem["broken_rules"] == ["blood_pressure_above_threshold"]
    overridden = device(ward, 10, override_reason=OVERRIDE)
    await refused(ward, probe, path, overridden, "permission-denied", status=403)

    given = await ward.step(ts, "administrations", overridden, ward.prescriber_token)
    assert given["session"]["administrations"][0]["broken_rules"] == [
        "blood_pressure_above_threshold"
    ]


async def test_a_pre_dose_blood_pressure_of_exactly_140_90_is_allowed(ward: Ward):
    ts = await ward.open_session("esketamine")
    await ward.vitals(ts, "pre_dose", 2, systolic=150, diastolic=95)
    await ward.vitals(ts, "pre_dose", 8, systolic=140, diastolic=90)  # the last one counts
    await ward.withdraw(ts, "3", lot="device")
    given = await ward.step(ts, "administrations", device(ward, 10))
    assert given["session"]["broken_rules"] == []


async def test_devices_are_given_at_least_five_minutes_apart(ward: Ward, probe):
    ts = await dosed(ward, devices=1)
    path = f"/v1/sessions/{ts['id']}/administrations"
    problem = await refused(ward, probe, path, device(ward, 14.9), "devices-too-close")
    assert problem["broken_rules"] == ["devices_too_close"]

    second = await ward.step(ts, "administrations", device(ward, 15))
    assert second["session"]["administrations"][1]["broken_rules"] == []
    third = await ward.step(
        ts, "administrations", device(ward, 17, override_reason=OVERRIDE), ward.prescriber_token
    )
    assert third["session"]["status"] == "observing"
    assert third["session"]["broken_rules"] == [
        entry("administration", ["devices_too_close"], OVERRIDE, record=False, by=PRESCRIBER)
    ]


async def test_each_esketamine_device_is_its_own_administration(ward: Ward, probe):
    ts = await dosed(ward, devices=0)
    path = f"/v1/sessions/{ts['id']}/administrations"
    problem = await refused(ward, probe, path, device(ward, 10, quantity="2"), "invalid-input")
    assert pointers(problem) == ["#/quantity"]
    problem = await refused(ward, probe, path, device(ward, 10, ended_at=at(11)), "invalid-input")
    assert pointers(problem) == ["#/ended_at"]
    given = await ward.step(ts, "administrations", device(ward, 10))
    assert (given["event"]["quantity"], given["event"]["mg"]) == ("1", "28")
    assert given["session"]["status"] == "in_progress"


async def test_an_infusion_is_recorded_with_its_end(ward: Ward, probe):
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    path = f"/v1/sessions/{ts['id']}/administrations"
    unended = infusion(ward, "0.7")
    del unended["ended_at"]
    problem = await refused(ward, probe, path, unended, "invalid-input")
    assert pointers(problem) == ["#/ended_at"]
    given = await ward.step(ts, "administrations", infusion(ward, "0.7", 10, 50))
    assert given["session"]["dosing_ended_at"] == at(50).replace("+00:00", "Z")


async def test_a_lot_of_another_product_is_not_the_sessions(ward: Ward, probe):
    ts = await ward.open_session("iv")
    wrong = {"lot_id": ward.device_lot.id, "from_location_id": ward.vault.id,
             "quantity": "1", "occurred_at": at(5)}  # fmt: skip
    problem = await refused(ward, probe, f"/v1/sessions/{ts['id']}/withdrawals", wrong,
                            "invalid-reference")  # fmt: skip
    assert pointers(problem) == ["#/lot_id"]
    await ward.withdraw(ts, "1")
    path = f"/v1/sessions/{ts['id']}/administrations"
    problem = await refused(ward, probe, path, infusion(ward, "1", lot_id=ward.device_lot.id),
                            "invalid-reference")  # fmt: skip
    assert pointers(problem) == ["#/lot_id"]


async def test_nothing_is_given_beyond_what_the_holding_holds(ward: Ward, probe):
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "0.5")  # 25 mg
    path = f"/v1/sessions/{ts['id']}/administrations"
    await refused(ward, probe, path, infusion(ward, "0.6"), "insufficient-stock", status=409)
    given = await ward.step(ts, "administrations", infusion(ward, "0.5"))
    assert mg(given["session"]["accounting"])["on_hand_mg"] == 0


# Waste and witnesses


async def test_the_waster_does_not_witness_their_own_waste(ward: Ward, probe):
    ts = await infused(ward)
    path = f"/v1/sessions/{ts['id']}/waste"
    body = waste_body(ward, "0.3", witness_id=ward.nurse.id)
    problem = await refused(ward, probe, path, body, "invalid-input")
    assert pointers(problem) == ["#/witness_id"]
    wasted = await ward.step(ts, "waste", waste_body(ward, "0.3"))
    assert (wasted["event"]["witness_ids"], wasted["event"]["witness_status"]) == (
        [ward.witness.id], "unwitnessed",
    )  # fmt: skip


async def test_only_the_named_witness_confirms_with_their_own_token(ward: Ward, probe):
    ts = await infused(ward)
    wasted = await ward.step(ts, "waste", waste_body(ward, "0.3"))
    path = f"/v1/sessions/{ts['id']}/witness-confirmations"
    body = {"event_id": wasted["event"]["id"]}
    await refused(ward, probe, path, body, "not-a-witness", status=409)  # the waster
    await refused(
        ward, probe, path, body, "not-a-witness", status=409, token=ward.prescriber_token,
        subject=PRESCRIBER,
    )  # fmt: skip

    confirmed = await ward.step(ts, "witness-confirmations", body, ward.witness_token)
    [waste_event] = [e for e in confirmed["events"] if e["type"] == "waste"]
    assert waste_event["witness_status"] == "witnessed"


async def test_a_witness_confirms_only_an_event_of_the_session(ward: Ward, probe):
    first = await infused(ward)
    wasted = await ward.step(first, "waste", waste_body(ward, "0.3"))
    second = await ward.open_session("iv", scheduled_at=at(180))
    path = f"/v1/sessions/{second['id']}/witness-confirmations"
    problem = await refused(
        ward, probe, path, {"event_id": wasted["event"]["id"]}, "invalid-reference",
        token=ward.witness_token, subject="nurse-2",
    )  # fmt: skip
    assert pointers(problem) == ["#/event_id"]


# Discharge


async def test_a_discharge_with_stock_in_the_holding_states_why(ward: Ward, probe):
    ts = await infused(ward)  # 15 mg left in the holding
    path = f"/v1/sessions/{ts['id']}/discharge"
    problem = await refused(ward, probe, path, {"discharged_at": at(100)}, "holding-not-empty")
    assert "15" in problem["detail"]

    reason = "vial remainder sent to pharmacy for destruction"
    done = await ward.step(ts, "discharge", {"discharged_at": at(100), "unresolved_reason": reason})
    assert (done["status"], done["unresolved_mg"], done["unresolved_reason"]) == (
        "discharged", "15", reason,
    )  # fmt: skip
    assert mg(done["accounting"])["on_hand_mg"] == 15
    assert done["accounting"]["balanced"] is True


async def test_an_esketamine_discharge_before_120_minutes_needs_a_prescriber(
    ward: Ward, probe, app_settings: Settings
):
    assert app_settings.esketamine_monitoring_minutes == 120
    ts = await monitored(ward)  # first device at 10
    path = f"/v1/sessions/{ts['id']}/discharge"
    problem = await refused(ward, probe, path, discharge_body(129.9), "monitoring-too-short")
    assert problem["broken_rules"] == ["monitoring_too_short"]
    overridden = discharge_body(129.9, override_reason=OVERRIDE)
    await refused(ward, probe, path, overridden, "permission-denied", status=403)

    done = await ward.step(ts, "discharge", overridden, ward.prescriber_token)
    assert done["broken_rules"] == [
        entry("discharge", ["monitoring_too_short"], OVERRIDE, record=False, by=PRESCRIBER)
    ]
    assert done["monitoring_form"]["total_minutes"] == 119


async def test_the_stability_assessment_belongs_to_the_monitoring(ward: Ward, probe):
    ts = await monitored(ward)
    path = f"/v1/sessions/{ts['id']}/discharge"
    for assessed in (5, 131):  # before the first device; after the discharge
        body = discharge_body(130) | {"clinical_stability": STABLE | {"assessed_at": at(assessed)}}
        problem = await refused(ward, probe, path, body, "invalid-input")
        assert pointers(problem) == ["#/clinical_stability/assessed_at"], assessed


async def test_an_esketamine_discharge_at_exactly_120_minutes_is_allowed(ward: Ward, probe):
    ts = await monitored(ward)  # the last device at 20, now is 300
    path = f"/v1/sessions/{ts['id']}/discharge"
    for minutes in (19, 306):  # before the dosing ended; beyond the 5 minutes' skew
        problem = await refused(ward, probe, path, discharge_body(minutes), "invalid-input")
        assert pointers(problem) == ["#/discharged_at"], minutes
    done = await ward.step(ts, "discharge", discharge_body(130))
    assert (done["status"], done["broken_rules"]) == ("discharged", [])
    form = done["monitoring_form"]
    assert (form["total_minutes"], form["missing"], form["due_on"]) == (120, [], "2026-03-09")
    assert (form["sedation"], form["dissociation"], form["serious_adverse_events"]) == (
        False, True, [],
    )  # fmt: skip


async def test_a_discharge_needs_the_post_dose_reading_of_the_monitoring_form(ward: Ward, probe):
    ts = await dosed(ward)  # first device at 10: the post-dose window is 40 to 70
    await ward.vitals(ts, "post_dose", 71)  # outside the window
    await ward.vitals(ts, "pre_discharge", 128)
    path = f"/v1/sessions/{ts['id']}/discharge"
    problem = await refused(ward, probe, path, discharge_body(130), "monitoring-form-incomplete")
    assert problem["broken_rules"] == ["monitoring_form_incomplete"]
    assert (await ward.session(ts))["monitoring_form"]["missing"] == [
        "post_dose", "clinical_stability", "observations",
    ]  # fmt: skip

    await ward.vitals(ts, "post_dose", 40)
    done = await ward.step(ts, "discharge", discharge_body(130))
    assert done["monitoring_form"]["missing"] == []
    assert done["monitoring_form"]["bp_post_dose"]["measured_at"] == at(40).replace("+00:00", "Z")

    unread = await dosed(ward, scheduled_at=at(180))
    done = await ward.step(
        unread, "discharge", discharge_body(130, override_reason=OVERRIDE), ward.prescriber_token
    )
    assert done["broken_rules"] == [
        entry("discharge", ["monitoring_form_incomplete"], OVERRIDE, record=False, by=PRESCRIBER)
    ]
    assert done["monitoring_form"]["missing"] == ["post_dose", "pre_discharge"]


async def test_an_esketamine_discharge_records_stability_and_observations(ward: Ward, probe):
    ts = await monitored(ward)
    path = f"/v1/sessions/{ts['id']}/discharge"
    for left_out in ("clinical_stability", "observations"):
        body = discharge_body(130)
        del body[left_out]
        problem = await refused(ward, probe, path, body, "invalid-input")
        assert pointers(problem) == [f"#/{left_out}"]
    done = await ward.step(ts, "discharge", discharge_body(130))
    assert (done["observations"], done["clinical_stability"]["stable"]) == (
        OBSERVED | {"serious_adverse_events": []}, True,
    )  # fmt: skip


async def test_a_patient_assessed_unstable_is_discharged_only_by_a_prescriber(ward: Ward, probe):
    ts = await monitored(ward)
    unstable = {"stable": False, "assessed_at": at(125), "note": "drowsy"}
    body = discharge_body(130, clinical_stability=unstable)
    path = f"/v1/sessions/{ts['id']}/discharge"
    problem = await refused(ward, probe, path, body, "patient-not-stable")
    assert problem["broken_rules"] == ["patient_not_stable"]

    done = await ward.step(ts, "discharge", body | {"override_reason": OVERRIDE},
                           ward.prescriber_token)  # fmt: skip
    assert done["clinical_stability"] == unstable | {"assessed_at": at(125).replace("+00:00", "Z")}
    assert done["broken_rules"] == [
        entry("discharge", ["patient_not_stable"], OVERRIDE, record=False, by=PRESCRIBER)
    ]


async def test_an_iv_patient_assessed_unstable_is_discharged_only_by_a_prescriber(
    ward: Ward, probe
):
    ts = await infused(ward, quantity="0.7", withdrawn="0.7")
    unstable = {"stable": False, "assessed_at": at(95)}
    body = {"discharged_at": at(100), "clinical_stability": unstable}
    path = f"/v1/sessions/{ts['id']}/discharge"
    problem = await refused(ward, probe, path, body, "patient-not-stable")
    assert problem["broken_rules"] == ["patient_not_stable"]
    done = await ward.step(ts, "discharge", body | {"override_reason": OVERRIDE},
                           ward.prescriber_token)  # fmt: skip
    assert (done["status"], done["monitoring_form"], done["observations"]) == (
        "discharged", None, None,
    )  # fmt: skip
    assert done["broken_rules"] == [
        entry("discharge", ["patient_not_stable"], OVERRIDE, record=False, by=PRESCRIBER)
    ]


# Returns


async def test_a_return_puts_unused_stock_back_in_storage(ward: Ward, probe):
    ts = await dosed(ward, devices=2, withdrawn="3")
    assert await ward.vault_balance(ward.device_lot) == "9"
    other = await ward.open_session("iv")
    body = {"lot_id": ward.device_lot.id, "quantity": "1",
            "to_location_id": other["holding_location_id"], "occurred_at": at(20)}  # fmt: skip
    problem = await refused(ward, probe, f"/v1/sessions/{ts['id']}/returns", body,
                            "invalid-reference")  # fmt: skip
    assert pointers(problem) == ["#/to_location_id"]
    returned = await ward.step(ts, "returns", {
        "lot_id": ward.device_lot.id, "quantity": "1", "to_location_id": ward.vault.id,
        "occurred_at": at(20),
    })  # fmt: skip
    assert returned["event"]["type"] == "return_to_stock"
    assert await ward.vault_balance(ward.device_lot) == "10"
    assert mg(returned["session"]["accounting"]) == {
        "withdrawn_mg": 84, "administered_mg": 56, "wasted_mg": 0, "returned_mg": 28,
        "on_hand_mg": 0,
    }  # fmt: skip
    assert returned["session"]["accounting"]["balanced"] is True


# The holding


def raw_event(ward: Ward, ts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"registrant_id": ward.id, "lot_id": ward.vial_lot.id, "quantity": "1",
            "occurred_at": at(5), "session_id": ts["id"]} | fields  # fmt: skip


async def test_the_ledger_api_does_not_move_stock_into_or_out_of_a_holding(ward: Ward, probe):
    ts = await ward.open_session("iv")
    holding = ts["holding_location_id"]
    into = raw_event(ward, ts, type="move", location_id=ward.vault.id,
                     to_location_id=holding)  # fmt: skip
    for named, pointer in ((into, "#/session_id"), (unnamed(into), "#/to_location_id")):
        problem = await refused(ward, probe, "/v1/ledger/events", named, "invalid-input")
        assert pointers(problem) == [pointer]
    await ward.withdraw(ts, "1")
    for event in (
        raw_event(ward, ts, type="administer", location_id=holding),
        raw_event(ward, ts, type="return_to_stock", location_id=holding,
                  to_location_id=ward.vault.id),
        raw_event(ward, ts, type="receipt", location_id=holding, counterparty=SUPPLIER,
                  document_reference="INV-2"),
    ):  # fmt: skip
        problem = await refused(ward, probe, "/v1/ledger/events", unnamed(event), "invalid-input")
        assert pointers(problem) == ["#/location_id"]
    assert mg((await ward.session(ts))["accounting"])["on_hand_mg"] == 50


def unnamed(event: dict[str, Any]) -> dict[str, Any]:
    """The event without its session_id."""
    return {name: value for name, value in event.items() if name != "session_id"}


async def test_the_ledger_api_does_not_attach_events_to_a_session(ward: Ward):
    ts = await ward.open_session("iv")
    elsewhere = raw_event(ward, ts, type="move", location_id=ward.vault.id,
                          to_location_id=ward.room.id)  # fmt: skip
    response = await ward.post("/v1/ledger/events", elsewhere)
    shown = await ward.session(ts)
    assert (response.status_code, shown["events"], shown["accounting"]["balanced"]) == (
        422, [], True,
    )  # fmt: skip


async def test_a_compliance_officer_does_not_edit_a_holding(ward: Ward, probe):
    ts = await ward.open_session("iv")
    path = f"/v1/registrants/{ward.id}/locations/{ts['holding_location_id']}"
    for change in ({"active": False}, {"name": "Spare cabinet"}):
        response = await assert_refused(
            ward.client, probe, "PATCH", path, status=422, problem=PROBLEM + "invalid-input",
            subject="officer-1", headers=bearer(ward.officer_token), json=change,
        )  # fmt: skip
        assert pointers(response.json()) == ["#"]
    room = f"/v1/registrants/{ward.id}/locations/{ward.room.id}"
    renamed = await ward.client.patch(
        room, json={"name": "Room A"}, headers=bearer(ward.officer_token)
    )
    assert renamed.status_code == 200, renamed.text


# Vitals


async def test_a_reading_beyond_the_clinic_thresholds_is_kept_with_its_alerts(ward: Ward):
    ts = await ward.open_session("esketamine")
    reading = await ward.vitals(ts, "monitoring", 3, heart_rate_bpm=130, spo2_percent=89)
    assert (reading["heart_rate_bpm"], reading["spo2_percent"], reading["alerts"]) == (
        130, 89, ["heart_rate_high", "spo2_low"],
    )  # fmt: skip
    assert (reading["recorded_by"], reading["session_id"]) == (ward.nurse.id, ts["id"])
    calm = await ward.vitals(ts, "monitoring", 4, systolic=180, diastolic=110,
                             heart_rate_bpm=50, spo2_percent=92)  # fmt: skip
    assert calm["alerts"] == []
    assert [v["alerts"] for v in (await ward.session(ts))["vitals"]] == [
        ["heart_rate_high", "spo2_low"], [],
    ]  # fmt: skip


async def test_a_reading_is_not_taken_in_the_future(ward: Ward, probe, app_settings: Settings):
    assert app_settings.future_skew_seconds == 300
    ts = await ward.open_session("esketamine")
    body = {"measured_at": at(305 + 1 / 60), "moment": "pre_dose", "systolic_mmhg": 120,
            "diastolic_mmhg": 80, "heart_rate_bpm": 70}  # fmt: skip
    problem = await refused(ward, probe, f"/v1/sessions/{ts['id']}/vitals", body,
                            "invalid-input")  # fmt: skip
    assert pointers(problem) == ["#/measured_at"]
    reading = await ward.step(ts, "vitals", body | {"measured_at": at(305)})
    assert reading["measured_at"] == "2026-03-02T15:05:00Z"


# Settings


@pytest.mark.parametrize(
    "app_settings",
    [{"iv_dose_tolerance_percent": Decimal(0), "esketamine_monitoring_minutes": 60}],
    indirect=True,
)
async def test_the_clinics_settings_set_the_tolerance_and_the_monitoring_time(
    ward: Ward, probe, app_settings: Settings
):
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    path = f"/v1/sessions/{ts['id']}/administrations"
    await refused(ward, probe, path, infusion(ward, "0.701"), "dose-beyond-plan")
    given = await ward.step(ts, "administrations", infusion(ward, "0.7"))
    assert given["session"]["broken_rules"] == []

    esketamine = await dosed(ward)  # first device at 10
    await ward.vitals(esketamine, "post_dose", 50)
    await ward.vitals(esketamine, "pre_discharge", 68)
    path = f"/v1/sessions/{esketamine['id']}/discharge"
    await refused(ward, probe, path, discharge_body(69.9), "monitoring-too-short")
    done = await ward.step(esketamine, "discharge", discharge_body(70))
    assert (done["broken_rules"], done["monitoring_form"]["total_minutes"]) == ([], 60)


# The REMS submission


async def test_a_monitoring_form_is_submitted_between_discharge_and_today(ward: Ward, probe):
    ts = await monitored(ward)
    path = f"/v1/sessions/{ts['id']}/rems-submission"
    await refused(ward, probe, path, {"submitted_on": "2026-03-02"}, "session-state", status=409)
    await ward.step(ts, "discharge", discharge_body(130))
    for day in ("2026-03-01", "2026-03-03"):
        problem = await refused(ward, probe, path, {"submitted_on": day}, "invalid-input")
        assert pointers(problem) == ["#/submitted_on"]
    done = await ward.step(ts, "rems-submission", {"submitted_on": "2026-03-02",
                                                   "reference": "PMF-1"})  # fmt: skip
    assert (done["rems_submitted_on"], done["rems_submission_reference"]) == ("2026-03-02", "PMF-1")


async def test_an_iv_session_has_no_monitoring_form_to_submit(ward: Ward, probe):
    ts = await infused(ward, withdrawn="0.7")
    await ward.step(ts, "discharge", {"discharged_at": at(100)})
    problem = await refused(ward, probe, f"/v1/sessions/{ts['id']}/rems-submission",
                            {"submitted_on": "2026-03-02"}, "invalid-input")  # fmt: skip
    assert pointers(problem) == ["#"]


# Records


async def test_an_integrations_step_is_a_record_kept_with_what_it_broke(ward: Ward, integration_at):
    bridge = await integration_at(ward.id, "sessions", sub="emr-bridge")
    body = ward.session_body("iv", scheduled_at="2026-04-02T09:00:00-05:00")
    created = await ward.post("/v1/sessions", body, bridge)
    assert created.status_code == 201, created.text
    ts = created.json()
    assert ts["broken_rules"] == [
        entry("scheduling", ["outside_plan_dates"], None, record=True, by="emr-bridge")
    ]
    withdrawal = {
        "lot_id": ward.vial_lot.id,
        "from_location_id": ward.vault.id,
        "quantity": "1",
        "occurred_at": at(5),
        "performed_by": ward.nurse.id,
    }
    await ward.step(ts, "withdrawals", withdrawal, bridge)
    given = await ward.step(ts, "administrations", infusion(
        ward, "1", performed_by=ward.nurse.id, override_reason="ignored for a record"
    ), bridge)  # fmt: skip
    assert given["session"]["broken_rules"][1] == entry(
        "administration", ["dose_beyond_plan"], None, record=True, by="emr-bridge"
    )
    assert given["event"]["performed_by"] == given["session"]["administrations"][0][
        "administered_by"
    ] == ward.nurse.id  # fmt: skip

    rems = await ward.post("/v1/sessions", await an_unenrolled_patient(ward), bridge)
    assert rems.status_code == 201, rems.text
    assert rems.json()["broken_rules"] == [
        entry("scheduling", ["rems_patient_not_enrolled"], None, record=True, by="emr-bridge")
    ]


async def test_an_integration_names_who_performed_the_step_and_a_clinician_does_not(
    ward: Ward, probe, integration_at
):
    integration = await integration_at(ward.id, "sessions", sub="emr-bridge")
    ts = await ward.open_session("iv")
    body = {"lot_id": ward.vial_lot.id, "from_location_id": ward.vault.id,
            "quantity": "1", "occurred_at": at(5)}  # fmt: skip
    path = f"/v1/sessions/{ts['id']}/withdrawals"
    problem = await refused(ward, probe, path, body, "invalid-input", token=integration,
                            subject="emr-bridge")  # fmt: skip
    assert pointers(problem) == ["#/performed_by"]
    vitals = {"measured_at": at(3), "moment": "pre_dose", "systolic_mmhg": 120,
              "diastolic_mmhg": 80, "heart_rate_bpm": 70}  # fmt: skip
    problem = await refused(ward, probe, f"/v1/sessions/{ts['id']}/vitals", vitals,
                            "invalid-input", token=integration, subject="emr-bridge")  # fmt: skip
    assert pointers(problem) == ["#/recorded_by"]
    problem = await refused(
        ward, probe, path, body | {"performed_by": ward.witness.id}, "invalid-reference"
    )  # a clinician names only themselves
    assert pointers(problem) == ["#/performed_by"]


async def test_a_session_entered_late_is_a_record(ward: Ward):
    """Scheduled two days ago (before the plan starts), entered now: kept, not refused."""
    body = ward.session_body("iv", scheduled_at="2026-02-28T09:00:00-06:00")
    created = await ward.post("/v1/sessions", body)
    assert created.status_code == 201, created.text
    assert created.json()["broken_rules"] == [
        entry("scheduling", ["outside_plan_dates"], None, record=True, by=NURSE)
    ]


async def test_a_back_dated_session_does_not_carry_esketamine_past_the_rems(ward: Ward, probe):
    """Scheduled two days ago, the session is a record (stored with what it broke); the
    devices given now are instructions, judged against the REMS again, and refused."""
    patient = await ward.add_patient()  # not enrolled
    plan = await ward.add_plan(patient, modality="esketamine_nasal", dose_mg="56",
                               starts_on="2026-02-27")  # fmt: skip
    body = ward.session_body("esketamine", patient_id=patient.id, plan_id=plan.id,
                             scheduled_at="2026-02-28T09:00:00-06:00")  # fmt: skip
    ts = (await ward.post("/v1/sessions", body)).json()
    assert ts["broken_rules"][0]["rules"] == ["rems_patient_not_enrolled"]
    await ward.vitals(ts, "pre_dose", 2)
    await ward.withdraw(ts, "2", lot="device")
    device = {"lot_id": ward.device_lot.id, "quantity": "1", "started_at": at(10),
              "override_reason": "patient insists"}  # fmt: skip
    await refused(ward, probe, f"/v1/sessions/{ts['id']}/administrations", device,
                  "rems-patient-not-enrolled", token=ward.prescriber_token,
                  subject="prescriber-1")  # fmt: skip


# Permissions and tenancy


async def test_only_clinicians_prescribers_and_integrations_hold_sessions(ward: Ward, probe):
    ts = await ward.open_session("iv")
    vitals = {"measured_at": at(3), "moment": "pre_dose", "systolic_mmhg": 120,
              "diastolic_mmhg": 80, "heart_rate_bpm": 70}  # fmt: skip
    for role in ("pharmacist", "compliance_officer"):
        other = ward.token([role], [ward.id], sub=f"{role}-1")
        await refused(ward, probe, "/v1/sessions", ward.session_body("iv"), "permission-denied",
                      status=403, token=other, subject=f"{role}-1")  # fmt: skip
        await refused(ward, probe, f"/v1/sessions/{ts['id']}/vitals", vitals,
                      "permission-denied", status=403, token=other,
                      subject=f"{role}-1")  # fmt: skip
    # Compliance officers read sessions (the findings they work point at them); not pharmacists.
    pharmacist = ward.token(["pharmacist"], [ward.id], sub="pharmacist-1")
    officer = ward.token(["compliance_officer"], [ward.id], sub="compliance_officer-1")
    for path in ("/v1/sessions", f"/v1/sessions/{ts['id']}"):
        assert_problem(await ward.get(path, pharmacist), 403, "permission-denied")
        assert (await ward.get(path, officer)).status_code == 200


async def test_another_registrants_session_is_not_found(ward: Ward, probe, admin_token):
    ts = await ward.open_session("iv")
    other = await create_registrant(ward.client, admin_token)
    outsider = ward.token(["clinician"], [other["id"]], sub=NURSE)
    for path in (f"/v1/sessions/{ts['id']}", f"/v1/sessions/{ts['id']}/history"):
        assert_problem(await ward.get(path, outsider), 404, "not-found")
    body = {"lot_id": ward.vial_lot.id, "from_location_id": ward.vault.id,
            "quantity": "1", "occurred_at": at(5)}  # fmt: skip
    await refused(ward, probe, f"/v1/sessions/{ts['id']}/withdrawals", body, "not-found",
                  status=404, token=outsider)  # fmt: skip
    await refused(ward, probe, "/v1/sessions", ward.session_body("iv"), "not-found",
                  status=404, token=outsider)  # fmt: skip
    assert_problem(await ward.get("/v1/sessions", outsider, registrant_id=ward.id), 404,
                   "not-found")  # fmt: skip
    own = await ward.get("/v1/sessions", outsider)
    assert (own.status_code, own.json()["items"]) == (200, [])


# Idempotency


async def test_a_retried_withdrawal_replays_the_first_and_withdraws_once(ward: Ward, probe):
    ts = await ward.open_session("iv")
    body = {"lot_id": ward.vial_lot.id, "from_location_id": ward.vault.id,
            "quantity": "1", "occurred_at": at(5)}  # fmt: skip
    path = f"/v1/sessions/{ts['id']}/withdrawals"
    first = await ward.post(path, body, key="withdraw-1")
    again = await ward.post(path, body, key="withdraw-1")
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await ward.vault_balance(ward.vial_lot) == "49"
    shown = await ward.session(ts)
    assert (len(shown["events"]), shown["version"]) == (1, 2)
    other = await ward.post(path, body | {"quantity": "2"}, key="withdraw-1")
    assert_problem(other, 422, "idempotency-key-reused")


async def test_a_session_step_needs_an_idempotency_key(ward: Ward, probe):
    ts = await ward.open_session("iv")
    body = {"lot_id": ward.vial_lot.id, "from_location_id": ward.vault.id,
            "quantity": "1", "occurred_at": at(5)}  # fmt: skip
    for path, sent in ((f"/v1/sessions/{ts['id']}/withdrawals", body),
                       ("/v1/sessions", ward.session_body("iv"))):  # fmt: skip
        await assert_refused(
            ward.client, probe, "POST", path, status=428,
            problem=PROBLEM + "precondition-required", subject=NURSE,
            headers=bearer(ward.nurse_token), json=sent,
        )  # fmt: skip


# Concurrency


async def test_concurrent_last_devices_keep_the_session_balanced(ward: Ward):
    ts = await dosed(ward, devices=2, withdrawn="3")
    responses = await asyncio.gather(
        posted(ward, ts, "administrations", device(ward, 25)),
        posted(ward, ts, "administrations", device(ward, 30)),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 422], [r.text for r in responses]
    [late] = [r for r in responses if r.status_code == 422]
    assert_problem(late, 422, "dose-beyond-plan")

    shown = await ward.session(ts)
    assert mg(shown["accounting"]) == {
        "withdrawn_mg": 84, "administered_mg": 84, "wasted_mg": 0, "returned_mg": 0,
        "on_hand_mg": 0,
    }  # fmt: skip
    assert shown["accounting"]["balanced"] is True
    given = sum(Decimal(a["mg"]) for a in shown["administrations"])
    ledger = [e for e in shown["events"] if e["type"] == "administer"]
    assert given == sum(Decimal(e["mg"]) for e in ledger) == 84
    assert sorted(a["event_id"] for a in shown["administrations"]) == sorted(
        e["id"] for e in ledger
    )
    assert (shown["status"], await ward.vault_balance(ward.device_lot)) == ("observing", "9")


async def test_concurrent_devices_beyond_the_holding_never_overdraw(ward: Ward):
    """Two devices withdrawn, one given: two more at once find only one in the holding."""
    ts = await dosed(ward, devices=1, withdrawn="2")
    responses = await asyncio.gather(
        posted(ward, ts, "administrations", device(ward, 20)),
        posted(ward, ts, "administrations", device(ward, 30)),
    )
    assert sorted(r.status_code for r in responses) in ([201, 409], [201, 422])
    shown = await ward.session(ts)
    accounting = mg(shown["accounting"])
    assert (accounting["administered_mg"], accounting["on_hand_mg"]) == (Decimal(56), Decimal(0))
    assert shown["accounting"]["balanced"] is True
    assert len(shown["administrations"]) == 2


async def test_concurrent_schedulings_take_the_weeks_last_session_once(ward: Ward):
    await ward.open_session("iv")
    responses = await asyncio.gather(
        *(
            ward.post("/v1/sessions", ward.session_body("iv", scheduled_at=at(60 * day)))
            for day in (24, 48, 72)
        )
    )
    created = [r for r in responses if r.status_code == 201]
    assert len(created) == 1, [r.text for r in responses]
    for response in responses:
        if response.status_code != 201:
            assert_problem(response, 422, "plan-sessions-exceeded")
    listed = await ward.get("/v1/sessions", plan_id=ward.iv_plan.id)
    assert len(listed.json()["items"]) == 2


# Lists


async def test_the_list_filters_by_patient_plan_and_status(ward: Ward):
    iv = await ward.open_session("iv")
    esketamine = await ward.open_session("esketamine")
    aborted = await ward.open_session("iv", scheduled_at=at(60 * 24))
    await ward.step(aborted, "abort", {"aborted_at": at(1), "reason": "rescheduled"})

    async def listed(**params: str) -> list[str]:
        response = await ward.get("/v1/sessions", **params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert set(await listed(patient_id=ward.iv_patient.id)) == {iv["id"], aborted["id"]}
    assert await listed(plan_id=ward.esketamine_plan.id) == [esketamine["id"]]
    assert await listed(status="aborted") == [aborted["id"]]
    assert set(await listed(status="scheduled")) == {iv["id"], esketamine["id"]}
    assert await listed(patient_id=ward.iv_patient.id, status="scheduled") == [iv["id"]]
    assert await listed(registrant_id=ward.id, status="discharged") == []


async def test_the_list_pages_through_every_session_once(ward: Ward, clock: FrozenClock):
    made = []
    for week in range(5):
        ts = await ward.open_session("esketamine", scheduled_at=at(60 * 24 * 7 * week))
        made.append(ts["id"])
        if week == 2:
            clock.advance(timedelta(minutes=1))  # some created at the same instant, some not
    items = await walk_pages(ward.client, "/v1/sessions", ward.nurse_token, limit=2)
    assert sorted(item["id"] for item in items) == sorted(made)
    assert len(items) == 5
    assert [item["created_at"] for item in items].count("2026-03-02T15:01:00Z") == 2
    assert all("accounting" not in item for item in items)
    narrowed = await walk_pages(ward.client, "/v1/sessions", ward.nurse_token, limit=1,
                                params={"plan_id": ward.esketamine_plan.id,
                                        "status": "scheduled"})  # fmt: skip
    assert sorted(item["id"] for item in narrowed) == sorted(made)


async def test_a_patient_in_a_session_is_not_scheduled_into_another(
    ward: Ward, probe, integration_at
):
    """A session ended at 130 minutes, started with its withdrawal at 5: another one for the
    same patient at 100 is refused as an instruction (naming the first's hours) and kept,
    flagged, as a record; at 140, after the first ended, it is in order."""
    first = await monitored(ward)
    await ward.step(first, "discharge", discharge_body(130))
    overlapping = ward.session_body("esketamine", scheduled_at=at(100))
    problem = await refused(ward, probe, "/v1/sessions", overlapping, "patient-sessions-overlap")
    assert problem["broken_rules"] == ["patient_sessions_overlap"]
    assert "another session 02 Mar 04:05 to 06:10 CST" in problem["detail"]

    after = await ward.open_session("esketamine", scheduled_at=at(140))
    assert after["broken_rules"] == []

    # The plan's two sessions of the week are now held: the record breaks that rule too.
    bridge = await integration_at(ward.id, "sessions", sub="emr-bridge")
    recorded = await ward.post("/v1/sessions", overlapping, bridge)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["broken_rules"] == [entry(
        "scheduling", ["plan_sessions_exceeded", "patient_sessions_overlap"], None,
        record=True, by="emr-bridge",
    )]  # fmt: skip
    other_patient = await ward.open_session("iv", scheduled_at=at(100))
    assert other_patient["broken_rules"] == []
