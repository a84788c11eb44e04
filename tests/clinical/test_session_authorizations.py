"""A prescriber authorizes, with their own token, the step a nurse takes that breaks a session
rule (docs/domain.md#override-authorization): the nurse is recorded as who took it (on the
ledger too), the prescriber as who authorized it, and the authorization is used once. A nurse
never authorizes, nor uses another's authorization; another registrant's prescriber finds
nothing to authorize.

The ward's clock stands at ``at(300)``: an authorized step happens after it was given, so the
steps authorized here are timed at 296 minutes and later."""

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core.clock import FrozenClock
from app.worker import Worker
from tests.clinical.ward import Ward, at, open_ward
from tests.conftest import START, DatabaseProbe, bearer
from tests.factories import assert_problem, assert_refused, create_registrant

PROBLEM = "urn:csledger:problem:"
NURSE, PRESCRIBER = "nurse-1", "prescriber-1"
REASON = "patient weighed again: 100 kg; 50 mg is 0.5 mg/kg"
NOW = START.isoformat().replace("+00:00", "Z")
AUTHORIZATIONS = "/v1/session-authorizations"
_KEYS = itertools.count(1)


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


def infusion(ward: Ward, quantity: str = "1", start: float = 296, **extra: Any) -> dict[str, Any]:
    """An infusion of ``quantity`` mL (50 mg a mL; the plan's dose is 35 mg)."""
    return {"lot_id": ward.vial_lot.id, "quantity": quantity, "started_at": at(start),
            "ended_at": at(start + 4)} | extra  # fmt: skip


def authorization(
    ward: Ward, step: str = "administration", rules: tuple[str, ...] = ("dose_beyond_plan",),
    **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    return {"registrant_id": ward.id, "step": step, "rules": list(rules), "reason": REASON,
            "performer_id": ward.nurse.id} | extra  # fmt: skip


async def authorized(ward: Ward, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    response = await ward.post(AUTHORIZATIONS, body, ward.prescriber_token, key)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    assert response.headers["location"] == f"{AUTHORIZATIONS}/{result['id']}"
    return result


async def refused(
    ward: Ward, probe: DatabaseProbe, path: str, body: dict[str, Any], slug: str, *,
    status: int = 422, token: str | None = None, subject: str = NURSE,
) -> dict[str, Any]:  # fmt: skip
    """POST ``body``: refused with ``slug``, nothing written but the audit row."""
    headers = bearer(token or ward.nurse_token) | {"Idempotency-Key": f"no-{next(_KEYS)}"}
    response = await assert_refused(
        ward.client, probe, "POST", path, status=status, problem=PROBLEM + slug,
        subject=subject, headers=headers, json=body,
    )  # fmt: skip
    problem: dict[str, Any] = response.json()
    return problem


async def withdrawn(ward: Ward, quantity: str = "2") -> dict[str, Any]:
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, quantity)
    return ts


def staff_name(staff: Any) -> dict[str, Any]:
    return {"id": staff.id, "name": staff.name, "role": staff.role,
            "state_license": staff.json.get("state_license")}  # fmt: skip


def authorized_entry(ward: Ward, step: str, rules: list[str], grant: dict[str, Any]):
    """A ``broken_rules`` entry of a step the nurse took under the prescriber's authorization."""
    return {
        "step": step, "rules": rules, "override_reason": REASON, "record": False, "by": NURSE,
        "at": NOW, "authorization_id": grant["id"], "authorized_by": PRESCRIBER,
        "authorized_at": NOW, "performer_id": ward.nurse.id, "authorizer_id": ward.prescriber.id,
        "performer": staff_name(ward.nurse), "authorizer": staff_name(ward.prescriber),
    }  # fmt: skip


# The flow


async def test_a_nurse_gives_the_dose_beyond_the_plan_a_prescriber_authorized(
    ward: Ward, probe, app, clock
):
    ts = await withdrawn(ward)
    path = f"/v1/sessions/{ts['id']}/administrations"
    await refused(ward, probe, path, infusion(ward), "dose-beyond-plan")
    problem = await refused(ward, probe, path, infusion(ward, override_reason=REASON),
                            "permission-denied", status=403)  # fmt: skip
    assert "POST /v1/session-authorizations" in problem["detail"]

    grant = await authorized(ward, authorization(ward, session_id=ts["id"]))
    assert (grant["performer"], grant["authorizer"]) == (
        staff_name(ward.nurse), staff_name(ward.prescriber),
    )  # fmt: skip
    assert (grant["authorized_by"], grant["used_at"], grant["expires_at"]) == (
        PRESCRIBER, None, (START + timedelta(minutes=60)).isoformat().replace("+00:00", "Z"),
    )  # fmt: skip

    given = await ward.step(ts, "administrations",
                            infusion(ward, override_authorization_id=grant["id"]))  # fmt: skip
    event = given["event"]
    assert (event["performed_by"], event["performer"]) == (ward.nurse.id, staff_name(ward.nurse))
    assert event["broken_rules"] == []  # the session's rule, not the ledger's
    [administration] = given["session"]["administrations"]
    assert (administration["administered_by"], administration["override_reason"]) == (
        ward.nurse.id, REASON,
    )  # fmt: skip
    assert given["session"]["broken_rules"] == [
        authorized_entry(ward, "administration", ["dose_beyond_plan"], grant)
    ]
    on_ledger = (await ward.get(f"/v1/ledger/events/{event['id']}")).json()
    assert (on_ledger["performed_by"], on_ledger["principal_subject"]) == (ward.nurse.id, NURSE)
    assert on_ledger["override_reason"] is None  # the authorization covers no ledger rule

    used = (await ward.get(f"{AUTHORIZATIONS}/{grant['id']}", ward.officer_token)).json()
    assert (used["used_at"], used["used_by"]) == (NOW, NURSE)

    # The review names both: neither the nurse nor the prescriber closes it.
    await Worker(app.state.database, app.state.settings, clock, periodic=()).run_until_idle()
    response = await ward.get("/v1/discrepancies", ward.officer_token, registrant_id=ward.id)
    [found] = response.json()["items"]
    assert (found["rule"], found["subjects"]) == ("override_used", [NURSE, PRESCRIBER])
    assert found["summary"] == (
        f"A session's administration by {ward.nurse.name}: dose beyond plan overridden by "
        f"{ward.prescriber.name}, because {REASON}"
    )


async def test_an_authorization_is_used_once(ward: Ward, probe):
    ts = await withdrawn(ward, "3")
    grant = await authorized(ward, authorization(ward, session_id=ts["id"]))
    body = infusion(ward, override_authorization_id=grant["id"])
    await ward.step(ts, "administrations", body)
    path = f"/v1/sessions/{ts['id']}/administrations"
    again = infusion(ward, "0.5", 298, override_authorization_id=grant["id"])
    problem = await refused(ward, probe, path, again, "authorization-used", status=409)
    assert "another step used" in problem["detail"]


async def test_a_step_retried_uses_its_authorization_once(ward: Ward):
    ts = await withdrawn(ward, "3")
    body = authorization(ward, session_id=ts["id"])
    grant = await authorized(ward, body, key="grant-1")
    assert (await authorized(ward, body, key="grant-1"))["id"] == grant["id"]
    step = infusion(ward, override_authorization_id=grant["id"])
    path = f"/v1/sessions/{ts['id']}/administrations"
    first = await ward.post(path, step, key="give-1")
    again = await ward.post(path, step, key="give-1")
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    session = await ward.session(ts)
    assert len(session["administrations"]) == len(session["broken_rules"]) == 1


async def test_two_steps_racing_for_one_authorization_use_it_once(ward: Ward):
    ts = await withdrawn(ward, "3")
    grant = await authorized(ward, authorization(ward, session_id=ts["id"]))
    path = f"/v1/sessions/{ts['id']}/administrations"
    step = infusion(ward, override_authorization_id=grant["id"])
    answers = await asyncio.gather(*(ward.post(path, step) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    lost = next(a for a in answers if a.status_code == 409)
    assert_problem(lost, 409, "authorization-used")
    session = await ward.session(ts)
    assert len(session["administrations"]) == 1
    assert session["accounting"]["balanced"] is True


async def test_a_prescribers_own_override_is_theirs_to_take_and_authorize(ward: Ward):
    ts = await withdrawn(ward)
    given = await ward.step(ts, "administrations", infusion(ward, override_reason=REASON),
                            ward.prescriber_token)  # fmt: skip
    [entry] = given["session"]["broken_rules"]
    assert (entry["by"], entry["authorized_by"], entry["authorization_id"]) == (
        PRESCRIBER, PRESCRIBER, None,
    )  # fmt: skip
    assert entry["performer"] == entry["authorizer"] == staff_name(ward.prescriber)
    assert given["event"]["performed_by"] == ward.prescriber.id


# Scheduling and discharge


async def test_a_nurse_schedules_an_extra_session_a_prescriber_authorized(ward: Ward, probe):
    await ward.open_session("iv")
    await ward.open_session("iv", scheduled_at="2026-03-04T09:00:00-06:00")
    friday = ward.session_body("iv", scheduled_at="2026-03-06T09:00:00-06:00")
    await refused(ward, probe, "/v1/sessions", friday, "plan-sessions-exceeded")
    on_session = await authorized(ward, authorization(
        ward, rules=("plan_sessions_exceeded",), session_id=(await ward.open_session(
            "iv", scheduled_at="2026-03-10T09:00:00-05:00"))["id"],
    ))  # fmt: skip
    await refused(ward, probe, "/v1/sessions",
                  friday | {"override_authorization_id": on_session["id"]},
                  "authorization-not-usable")  # fmt: skip

    grant = await authorized(ward, authorization(
        ward, "scheduling", ("plan_sessions_exceeded",), plan_id=ward.iv_plan.id,
    ))  # fmt: skip
    created = await ward.post("/v1/sessions", friday | {"override_authorization_id": grant["id"]})
    assert created.status_code == 201, created.text
    assert created.json()["broken_rules"] == [
        authorized_entry(ward, "scheduling", ["plan_sessions_exceeded"], grant)
    ]


async def esketamine_near_now(ward: Ward) -> dict[str, Any]:
    """An esketamine session dosed from 180 minutes with its readings: discharged at 299, its
    monitoring is 119 minutes."""
    ts = await ward.open_session("esketamine", scheduled_at=at(170))
    await ward.vitals(ts, "pre_dose", 172)
    await ward.withdraw(ts, "3", 175, lot="device")
    for minutes in (180, 185, 190):
        body = {"lot_id": ward.device_lot.id, "quantity": "1", "started_at": at(minutes)}
        await ward.step(ts, "administrations", body)
    await ward.vitals(ts, "post_dose", 220)
    await ward.vitals(ts, "pre_discharge", 297)
    return ts


async def test_a_nurse_discharges_early_as_a_prescriber_authorized(ward: Ward, probe):
    ts = await esketamine_near_now(ward)
    body = {"discharged_at": at(299), "clinical_stability": {"stable": True,
            "assessed_at": at(298)}, "observations": {"sedation": False, "dissociation": False,
            "respiratory_depression": False}}  # fmt: skip
    path = f"/v1/sessions/{ts['id']}/discharge"
    await refused(ward, probe, path, body, "monitoring-too-short")
    wrong = await authorized(ward, authorization(ward, "discharge", ("patient_not_stable",),
                                                 session_id=ts["id"]))  # fmt: skip
    problem = await refused(ward, probe, path, body | {"override_authorization_id": wrong["id"]},
                            "authorization-not-usable")  # fmt: skip
    assert problem["detail"] == "it does not cover monitoring_too_short"

    grant = await authorized(ward, authorization(ward, "discharge", ("monitoring_too_short",),
                                                 session_id=ts["id"]))  # fmt: skip
    done = await ward.step(ts, "discharge", body | {"override_authorization_id": grant["id"]})
    assert done["status"] == "discharged"
    assert done["broken_rules"] == [
        authorized_entry(ward, "discharge", ["monitoring_too_short"], grant)
    ]


# Who may authorize, and what an authorization allows


async def test_a_nurse_never_authorizes_nor_uses_anothers_authorization(ward: Ward, probe):
    ts = await withdrawn(ward)
    body = authorization(ward, session_id=ts["id"])
    await refused(ward, probe, AUTHORIZATIONS, body, "permission-denied", status=403)
    themselves = body | {"performer_id": ward.prescriber.id}
    problem = await refused(ward, probe, AUTHORIZATIONS, themselves, "invalid-input",
                            token=ward.prescriber_token, subject=PRESCRIBER)  # fmt: skip
    assert problem["errors"][0]["pointer"] == "#/performer_id"
    problem = await refused(ward, probe, AUTHORIZATIONS,
                            body | {"rules": ["dose_beyond_plan", "rems_patient_not_enrolled"]},
                            "invalid-input", token=ward.prescriber_token,
                            subject=PRESCRIBER)  # fmt: skip
    assert problem["errors"][0]["pointer"] == "#/rules/1"

    grant = await authorized(ward, body)  # for the nurse, not the witness
    path = f"/v1/sessions/{ts['id']}/administrations"
    problem = await refused(ward, probe, path,
                            infusion(ward, override_authorization_id=grant["id"]),
                            "authorization-not-usable", token=ward.witness_token,
                            subject="nurse-2")  # fmt: skip
    assert problem["detail"] == "it authorizes another clinician"


async def test_an_authorization_allows_a_step_after_it_and_before_it_expires(
    ward: Ward, probe, clock: FrozenClock
):
    ts = await withdrawn(ward)
    grant = await authorized(ward, authorization(ward, session_id=ts["id"]))
    path = f"/v1/sessions/{ts['id']}/administrations"
    before = infusion(ward, start=290, override_authorization_id=grant["id"])
    problem = await refused(ward, probe, path, before, "authorization-not-usable")
    assert problem["detail"] == "the step happened before the prescriber authorized it"
    clock.advance(timedelta(minutes=61))
    late = infusion(ward, override_authorization_id=grant["id"])
    problem = await refused(ward, probe, path, late, "authorization-not-usable")
    assert problem["detail"].startswith("it expired at ")


async def test_another_registrants_prescriber_finds_nothing_to_authorize(
    ward: Ward, probe, admin_token
):
    ts = await withdrawn(ward)
    grant = await authorized(ward, authorization(ward, session_id=ts["id"]))
    other = await create_registrant(ward.client, admin_token)
    outsider = ward.token(["prescriber"], [other["id"]], sub=PRESCRIBER)
    await refused(ward, probe, AUTHORIZATIONS, authorization(ward, session_id=ts["id"]),
                  "not-found", status=404, token=outsider, subject=PRESCRIBER)  # fmt: skip
    assert_problem(await ward.get(f"{AUTHORIZATIONS}/{grant['id']}", outsider), 404, "not-found")


async def test_a_compliance_officer_reads_sessions_and_authorizations(ward: Ward):
    ts = await withdrawn(ward)
    grant = await authorized(ward, authorization(ward, session_id=ts["id"]))
    for path in ("/v1/sessions", f"/v1/sessions/{ts['id']}", f"{AUTHORIZATIONS}/{grant['id']}"):
        response: httpx.Response = await ward.get(path, ward.officer_token)
        assert response.status_code == 200, (path, response.text)


async def test_the_authorization_and_the_step_are_each_audited_as_their_authors(
    ward: Ward, probe: DatabaseProbe
):
    ts = await withdrawn(ward)
    granted = await ward.post(AUTHORIZATIONS, authorization(ward, session_id=ts["id"]),
                              ward.prescriber_token)  # fmt: skip
    grant = granted.json()
    given = await ward.post(f"/v1/sessions/{ts['id']}/administrations",
                            infusion(ward, override_authorization_id=grant["id"]))  # fmt: skip
    assert given.status_code == 201, given.text
    [authorizing] = await probe.audit_rows(granted.headers["x-request-id"])
    [giving] = await probe.audit_rows(given.headers["x-request-id"])
    assert (authorizing.subject, authorizing.action, authorizing.resource_id) == (
        PRESCRIBER, "authorize_step", grant["id"],
    )  # fmt: skip
    assert (giving.subject, giving.resource_id) == (NURSE, ts["id"])
    assert str(authorizing.registrant_id) == str(giving.registrant_id) == ward.id


async def test_a_nurses_system_finds_the_authorizations_she_may_still_use(ward: Ward):
    ts = await withdrawn(ward, "3")
    other = await ward.open_session("esketamine")
    used = await authorized(ward, authorization(ward, session_id=ts["id"]))
    await ward.step(ts, "administrations", infusion(ward, override_authorization_id=used["id"]))
    waiting = await authorized(ward, authorization(ward, session_id=ts["id"]))
    await authorized(ward, authorization(ward, session_id=other["id"]))

    def listed(**params: str) -> Any:
        return ward.get(AUTHORIZATIONS, registrant_id=ward.id, session_id=ts["id"], **params)

    everything = (await listed()).json()["items"]  # given at one instant: in id order
    assert sorted(a["id"] for a in everything) == sorted([used["id"], waiting["id"]])
    assert {a["performer"]["name"] for a in everything} == {ward.nurse.name}
    usable = (await listed(usable="true")).json()["items"]
    assert [a["id"] for a in usable] == [waiting["id"]]
