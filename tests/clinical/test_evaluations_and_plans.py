"""Evaluations and treatment plans: prescribers only, each clinical rule refused unless
overridden, the DEA registration never overridden, plans moving forward with their history."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import DBAPIError

from tests.conftest import START, DatabaseProbe, TokenFactory, bearer
from tests.factories import (
    assert_problem,
    assert_refused,
    create,
    create_registrant,
    patient_body,
    staff_body,
    staff_registration_body,
)

PRESCRIBER = "prescriber-1"
OFFICER = "officer-1"
TODAY = START.date().isoformat()  # 2026-03-02, the frozen clock's day
TOMORROW = (START.date() + timedelta(days=1)).isoformat()
PROBLEM = "urn:csledger:problem:"
REFUSED_ANYWAY = "the patient asked for it"


def trial(agent: str, weeks: int, outcome: str = "inadequate_response") -> dict[str, Any]:
    return {
        "treatment_class": "ssri",
        "agent": agent,
        "duration_weeks": weeks,
        "outcome": outcome,
    }


TWO_FAILED_TRIALS = [trial("sertraline", 8), trial("venlafaxine", 6)]
SCREENS = (
    "uncontrolled_hypertension",
    "psychosis_history",
    "cardiovascular_disease",
    "cerebrovascular_disease",
    "pregnancy",
    "active_substance_use_disorder",
    "aneurysmal_vascular_disease_or_avm",
    "intracerebral_hemorrhage_history",
    "hypersensitivity",
)


def screening(*positive: str) -> dict[str, bool]:
    """Every screen answered: the ``positive`` ones true."""
    return {name: name in positive for name in SCREENS}


@dataclass
class Clinic:
    """A clinic with a patient and a registered prescriber whose token is ``prescriber_token``."""

    client: httpx.AsyncClient
    admin_token: str
    token: TokenFactory
    registrant: dict[str, Any]
    patient: dict[str, Any]
    prescriber: dict[str, Any]
    prescriber_token: str
    officer_token: str

    @property
    def id(self) -> str:
        return str(self.registrant["id"])

    async def add_staff(self, **overrides: Any) -> dict[str, Any]:
        path = f"/v1/registrants/{self.id}/staff"
        return await create(self.client, path, staff_body(**overrides), self.admin_token)

    async def add_registration(self, staff: dict[str, Any], **overrides: Any) -> None:
        """A DEA registration row, added by the compliance officer (renewals are rows too)."""
        path = f"/v1/registrants/{self.id}/staff/{staff['id']}/registrations"
        body = staff_registration_body(**overrides)
        await create(self.client, path, body, self.officer_token)

    async def add_prescriber(self, subject: str) -> tuple[dict[str, Any], str]:
        """Another prescriber of the clinic, without a registration yet, and their token."""
        staff = await self.add_staff(role="prescriber", subject=subject)
        return staff, self.token(["prescriber"], [self.id], sub=subject)

    async def add_patient(self) -> dict[str, Any]:
        return await create(
            self.client, "/v1/patients", patient_body(self.id), self.prescriber_token
        )

    def evaluation(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "registrant_id": self.id,
            "patient_id": self.patient["id"],
            "evaluated_on": "2026-02-27",
            "in_person": True,
            "prior_treatments": TWO_FAILED_TRIALS,
            "contraindications": screening(),
            "vitals": {
                "systolic_mmhg": 122,
                "diastolic_mmhg": 78,
                "heart_rate_bpm": 72,
                "spo2_percent": 98,
                "weight_kg": "70.5",
            },
            "outcome": "candidate",
        }
        return body | overrides

    def plan(self, evaluation: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "registrant_id": self.id,
            "patient_id": evaluation["patient_id"],
            "evaluation_id": evaluation["id"],
            "modality": "iv_infusion",
            "dose_mg_per_kg": "0.5",
            "sessions_per_week": 2,
            "total_sessions": 6,
            "starts_on": "2026-03-09",
            "ends_on": "2026-03-27",
        }
        return body | overrides

    async def post(
        self, path: str, body: dict[str, Any], token: str | None = None
    ) -> httpx.Response:
        headers = bearer(token or self.prescriber_token)
        return await self.client.post(path, json=body, headers=headers)

    async def get(self, path: str, token: str | None = None, **params: str) -> httpx.Response:
        headers = bearer(token or self.prescriber_token)
        return await self.client.get(path, params=params, headers=headers)

    async def patch_plan(self, plan: dict[str, Any], **body: Any) -> httpx.Response:
        return await self.client.patch(
            f"/v1/treatment-plans/{plan['id']}", json=body, headers=bearer(self.prescriber_token)
        )

    async def evaluate(self, **overrides: Any) -> dict[str, Any]:
        body = self.evaluation(**overrides)
        return await create(self.client, "/v1/evaluations", body, self.prescriber_token)

    async def start_plan(self, evaluation: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        body = self.plan(evaluation, **overrides)
        return await create(self.client, "/v1/treatment-plans", body, self.prescriber_token)

    async def history(self, plan: dict[str, Any]) -> list[tuple[int, str]]:
        response = await self.get(f"/v1/treatment-plans/{plan['id']}/history")
        assert response.status_code == 200, response.text
        return [(r["version"], r["data"]["status"]) for r in response.json()]


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    registrant = await create_registrant(client, admin_token)
    rid = registrant["id"]
    prescriber_token = token(["prescriber"], [rid], sub=PRESCRIBER, name="Grace Hopper")
    patient = await create(client, "/v1/patients", patient_body(rid), prescriber_token)
    prescriber = await create(
        client,
        f"/v1/registrants/{rid}/staff",
        staff_body(role="prescriber", subject=PRESCRIBER),
        admin_token,
    )
    built = Clinic(
        client=client,
        admin_token=admin_token,
        token=token,
        registrant=registrant,
        patient=patient,
        prescriber=prescriber,
        prescriber_token=prescriber_token,
        officer_token=token(["compliance_officer"], [rid], sub=OFFICER),
    )
    await built.add_registration(prescriber, schedules=["3N", "4"], expires_on="2027-01-31")
    return built


@pytest.fixture
async def candidate(clinic: Clinic) -> dict[str, Any]:
    return await clinic.evaluate()


async def refused(
    clinic: Clinic,
    probe: DatabaseProbe,
    path: str,
    body: dict[str, Any],
    slug: str,
    *,
    token: str | None = None,
    subject: str = PRESCRIBER,
    status: int = 422,
) -> dict[str, Any]:
    """POST ``body``: refused with ``slug``, nothing written but the audit row."""
    response = await assert_refused(
        clinic.client,
        probe,
        "POST",
        path,
        status=status,
        problem=PROBLEM + slug,
        subject=subject,
        headers=bearer(token or clinic.prescriber_token),
        json=body,
    )
    result: dict[str, Any] = response.json()
    return result


# Evaluations


async def test_a_candidate_with_two_failed_adequate_trials_is_recorded(clinic):
    body = clinic.evaluation()
    response = await clinic.post("/v1/evaluations", body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/v1/evaluations/{created['id']}"
    assert created == {
        **body,
        "id": created["id"],
        "prescriber_id": clinic.prescriber["id"],
        "outcome_reason": None,
        "broken_rules": [],
        "override_reason": None,
        "recorded_by": PRESCRIBER,
        "created_at": "2026-03-02T15:00:00Z",
        "patient": created["patient"],
        "prescriber": created["prescriber"],
    }
    assert created["patient"]["id"] == body["patient_id"]
    assert created["prescriber"]["name"] == clinic.prescriber["name"]
    fetched = await clinic.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_not_candidate_needs_an_outcome_reason(clinic, probe):
    body = clinic.evaluation(outcome="not_candidate")
    problem = await refused(clinic, probe, "/v1/evaluations", body, "invalid-input")
    assert "outcome_reason is required" in problem["detail"]
    given = await clinic.evaluate(outcome="not_candidate", outcome_reason="prefers psychotherapy")
    assert given["outcome_reason"] == "prefers psychotherapy"


CANDIDATE_BREAKS = {
    "positive screen": (
        {"contraindications": screening("uncontrolled_hypertension")},
        ["contraindication_present"],
    ),
    "one failed trial": (
        {"prior_treatments": [trial("sertraline", 8)]},
        ["treatment_resistance_not_documented"],
    ),
    "a failed trial of 3 weeks": (
        {"prior_treatments": [trial("sertraline", 8), trial("venlafaxine", 3)]},
        ["treatment_resistance_not_documented"],
    ),
    "a trial stopped for intolerance": (
        {"prior_treatments": [trial("sertraline", 8), trial("venlafaxine", 8, "intolerance")]},
        ["treatment_resistance_not_documented"],
    ),
    "both": (
        {"contraindications": screening("pregnancy"), "prior_treatments": []},
        ["contraindication_present", "treatment_resistance_not_documented"],
    ),
}


@pytest.mark.parametrize(("changes", "broken"), CANDIDATE_BREAKS.values(), ids=CANDIDATE_BREAKS)
async def test_a_candidate_breaking_a_rule_is_refused_unless_overridden(
    clinic, probe, changes, broken
):
    body = clinic.evaluation(**changes)
    first_rule = broken[0].replace("_", "-")
    problem = await refused(clinic, probe, "/v1/evaluations", body, first_rule)
    assert problem["broken_rules"] == broken

    overridden = await clinic.evaluate(**changes, override_reason="reviewed with cardiology")
    assert overridden["broken_rules"] == broken
    assert overridden["override_reason"] == "reviewed with cardiology"


async def test_two_failed_trials_of_exactly_four_weeks_document_resistance(clinic):
    trials = [trial("sertraline", 4), trial("bupropion", 4), trial("lithium", 1, "response")]
    evaluation = await clinic.evaluate(prior_treatments=trials)
    assert evaluation["broken_rules"] == []


async def test_not_a_candidate_despite_a_positive_screen_needs_no_override(clinic):
    evaluation = await clinic.evaluate(
        outcome="not_candidate",
        outcome_reason="psychosis history",
        contraindications=screening("psychosis_history"),
        prior_treatments=[],
    )
    assert (evaluation["broken_rules"], evaluation["override_reason"]) == ([], None)


async def test_an_evaluation_cannot_be_dated_in_the_future(clinic, probe):
    body = clinic.evaluation(evaluated_on=TOMORROW)
    problem = await refused(clinic, probe, "/v1/evaluations", body, "invalid-input")
    assert [e["pointer"] for e in problem["errors"]] == ["#/evaluated_on"]
    assert (await clinic.evaluate(evaluated_on=TODAY))["evaluated_on"] == TODAY


async def test_a_prescriber_names_only_themselves(clinic, probe):
    colleague, _ = await clinic.add_prescriber("prescriber-2")
    body = clinic.evaluation(prescriber_id=colleague["id"])
    problem = await refused(clinic, probe, "/v1/evaluations", body, "invalid-reference")
    assert [e["pointer"] for e in problem["errors"]] == ["#/prescriber_id"]
    named = await clinic.evaluate(prescriber_id=clinic.prescriber["id"])
    assert named["prescriber_id"] == clinic.prescriber["id"]


async def test_a_token_of_no_staff_member_cannot_evaluate(clinic, probe):
    stranger = clinic.token(["prescriber"], [clinic.id], sub="not-on-staff")
    body = clinic.evaluation()
    problem = await refused(
        clinic, probe, "/v1/evaluations", body, "invalid-reference",
        token=stranger, subject="not-on-staff",
    )  # fmt: skip
    assert [e["pointer"] for e in problem["errors"]] == ["#/prescriber_id"]


async def test_another_registrants_patient_is_an_invalid_reference(
    clinic, probe, client, admin_token, token
):
    other = await create_registrant(client, admin_token)
    other_clinician = token(["clinician"], [other["id"]])
    stranger = await create(client, "/v1/patients", patient_body(other["id"]), other_clinician)
    body = clinic.evaluation(patient_id=stranger["id"])
    problem = await refused(clinic, probe, "/v1/evaluations", body, "invalid-reference")
    assert [e["pointer"] for e in problem["errors"]] == ["#/patient_id"]


@pytest.mark.parametrize("role", ["clinician", "pharmacist", "compliance_officer"])
async def test_only_prescribers_evaluate_and_plan(clinic, probe, candidate, role):
    other = clinic.token([role], [clinic.id], sub=f"{role}-1")
    await refused(
        clinic, probe, "/v1/evaluations", clinic.evaluation(), "permission-denied",
        token=other, subject=f"{role}-1", status=403,
    )  # fmt: skip
    await refused(
        clinic, probe, "/v1/treatment-plans", clinic.plan(candidate), "permission-denied",
        token=other, subject=f"{role}-1", status=403,
    )  # fmt: skip
    for path in ("/v1/evaluations", f"/v1/evaluations/{candidate['id']}", "/v1/treatment-plans"):
        assert_problem(await clinic.get(path, other), 403, "permission-denied")


async def test_a_registrant_the_token_does_not_name_is_not_found(
    clinic, probe, candidate, client, admin_token
):
    plan = await clinic.start_plan(candidate)
    other = await create_registrant(client, admin_token)
    outsider = clinic.token(["prescriber"], [other["id"]], sub=PRESCRIBER)
    await refused(
        clinic, probe, "/v1/evaluations", clinic.evaluation(), "not-found",
        token=outsider, status=404,
    )  # fmt: skip
    await refused(
        clinic, probe, "/v1/treatment-plans", clinic.plan(candidate), "not-found",
        token=outsider, status=404,
    )  # fmt: skip
    for path in (f"/v1/evaluations/{candidate['id']}", f"/v1/treatment-plans/{plan['id']}"):
        assert_problem(await clinic.get(path, outsider), 404, "not-found")
    listed = await clinic.get("/v1/evaluations", outsider, registrant_id=clinic.id)
    assert_problem(listed, 404, "not-found")


async def test_evaluations_are_append_only(clinic, probe, candidate):
    for operation, statement in {
        "UPDATE": "UPDATE evaluations SET outcome = 'not_candidate'",
        "DELETE": "DELETE FROM evaluations",
    }.items():
        with pytest.raises(DBAPIError, match=f"evaluations is append-only: {operation} refused"):
            async with probe.engine.begin() as connection:
                await connection.exec_driver_sql(statement)
    assert (await clinic.get(f"/v1/evaluations/{candidate['id']}")).json() == candidate


# Reading evaluations


async def test_the_list_filters_by_patient_and_is_audited_as_a_patient_read(clinic, probe):
    other_patient = await clinic.add_patient()
    first = await clinic.evaluate()
    await clinic.evaluate(patient_id=other_patient["id"])
    second = await clinic.evaluate(evaluated_on=TODAY)

    response = await clinic.get("/v1/evaluations", patient_id=clinic.patient["id"])
    assert response.status_code == 200, response.text
    assert {item["id"] for item in response.json()["items"]} == {first["id"], second["id"]}
    [row] = await probe.audit_rows(response.headers["x-request-id"])
    assert (row.kind, row.resource_type, row.subject) == ("patient_read", "evaluation", PRESCRIBER)
    assert row.parameters == {"patient_id": [clinic.patient["id"]]}


async def test_reading_one_evaluation_is_audited_as_a_patient_read(clinic, probe, candidate):
    response = await clinic.get(f"/v1/evaluations/{candidate['id']}")
    assert response.status_code == 200
    [row] = await probe.audit_rows(response.headers["x-request-id"])
    assert (row.kind, row.resource_id) == ("patient_read", candidate["id"])
    assert str(row.registrant_id) == clinic.id
    assert clinic.patient["family_name"] not in repr(tuple(row))


# Treatment plans


async def test_an_iv_plan_on_a_candidate_evaluation_starts_active_at_version_1(clinic, candidate):
    body = clinic.plan(candidate)
    response = await clinic.post("/v1/treatment-plans", body)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert response.headers["location"] == f"/v1/treatment-plans/{plan['id']}"
    assert plan == {
        **body,
        "id": plan["id"],
        "prescriber_id": clinic.prescriber["id"],
        "dose_mg": None,
        "mg_per_unit": None,
        "units_per_dose": None,
        "status": "active",
        "status_reason": None,
        "broken_rules": [],
        "override_reason": None,
        "created_by": PRESCRIBER,
        "version": 1,
        "created_at": "2026-03-02T15:00:00Z",
        "updated_at": "2026-03-02T15:00:00Z",
        "patient": plan["patient"],
        "prescriber": plan["prescriber"],
    }
    assert plan["patient"]["id"] == body["patient_id"]
    assert plan["prescriber"]["name"] == clinic.prescriber["name"]
    assert (await clinic.get(response.headers["location"])).json() == plan
    assert await clinic.history(plan) == [(1, "active")]


DOSE_MISMATCHES = {
    "iv with an esketamine dose": {"dose_mg": "56"},
    "iv without its dose": {"dose_mg_per_kg": None},
    "esketamine with an iv dose": {"modality": "esketamine_nasal"},
    "at home with an iv dose": {"modality": "compounded_at_home"},
    "esketamine at 70 mg": {"modality": "esketamine_nasal", "dose_mg_per_kg": None,
                            "dose_mg": "70"},
    "at home without units per dose": {"modality": "compounded_at_home", "dose_mg_per_kg": None,
                                       "mg_per_unit": "100"},
    "at home without mg per unit": {"modality": "compounded_at_home", "dose_mg_per_kg": None,
                                    "units_per_dose": "1"},
    "ends before it starts": {"starts_on": "2026-03-09", "ends_on": "2026-03-08"},
}  # fmt: skip


@pytest.mark.parametrize("changes", DOSE_MISMATCHES.values(), ids=DOSE_MISMATCHES)
async def test_a_plan_with_the_wrong_dose_fields_or_dates_is_invalid(
    clinic, probe, candidate, changes
):
    body = clinic.plan(candidate, **changes)
    problem = await refused(clinic, probe, "/v1/treatment-plans", body, "invalid-input")
    assert [e["pointer"] for e in problem["errors"]] == ["#"]


DOSES_THAT_FIT = {
    "esketamine 56 mg": {"modality": "esketamine_nasal", "dose_mg": "56"},
    "esketamine 84 mg": {"modality": "esketamine_nasal", "dose_mg": "84"},
    "at home": {"modality": "compounded_at_home", "mg_per_unit": "100", "units_per_dose": "1.5"},
    "one day": {"dose_mg_per_kg": "0.5", "starts_on": "2026-03-09", "ends_on": "2026-03-09"},
    "iv at the lowest usual dose": {"dose_mg_per_kg": "0.1"},
    "iv at the highest usual dose": {"dose_mg_per_kg": "0.75"},
}


@pytest.mark.parametrize("changes", DOSES_THAT_FIT.values(), ids=DOSES_THAT_FIT)
async def test_a_plan_with_its_modalitys_dose_is_accepted(clinic, candidate, changes):
    body = {"dose_mg_per_kg": None, **changes}
    plan = await clinic.start_plan(candidate, **body)
    given = {name: value for name, value in body.items() if value is not None}
    assert {name: plan[name] for name in given} == given
    assert plan["broken_rules"] == []


@pytest.mark.parametrize("dose", ["0.8", "0.05"])
async def test_an_iv_dose_outside_the_usual_range_needs_an_override(clinic, probe, candidate, dose):
    body = clinic.plan(candidate, dose_mg_per_kg=dose)
    problem = await refused(clinic, probe, "/v1/treatment-plans", body, "dose-outside-usual-range")
    assert problem["broken_rules"] == ["dose_outside_usual_range"]

    plan = await clinic.start_plan(candidate, dose_mg_per_kg=dose, override_reason="titrated")
    assert (plan["dose_mg_per_kg"], plan["status"]) == (dose, "active")
    assert (plan["broken_rules"], plan["override_reason"]) == (
        ["dose_outside_usual_range"],
        "titrated",
    )


async def test_a_plan_rests_on_a_candidate_evaluation(clinic, probe):
    not_candidate = await clinic.evaluate(outcome="not_candidate", outcome_reason="pregnancy")
    body = clinic.plan(not_candidate, override_reason=REFUSED_ANYWAY)
    problem = await refused(clinic, probe, "/v1/treatment-plans", body, "evaluation-not-candidate")
    assert [e["pointer"] for e in problem["errors"]] == ["#/evaluation_id"]


async def test_a_plan_rests_on_an_evaluation_of_its_patient(clinic, probe):
    other_patient = await clinic.add_patient()
    others_evaluation = await clinic.evaluate(patient_id=other_patient["id"])
    body = clinic.plan(others_evaluation, patient_id=clinic.patient["id"])
    problem = await refused(clinic, probe, "/v1/treatment-plans", body, "invalid-reference")
    assert [e["pointer"] for e in problem["errors"]] == ["#/evaluation_id"]


UNCOVERED = {
    "no registration": ([], {}),
    "schedule 3 narcotics only": ([{"schedules": ["3", "4"]}], {}),
    "expired before the plan starts": ([{"expires_on": "2026-03-08"}], {}),
    "expired before today, plan started earlier": (
        [{"expires_on": "2026-02-28"}],
        {"starts_on": "2026-02-27"},
    ),
}


@pytest.mark.parametrize(("registrations", "changes"), UNCOVERED.values(), ids=UNCOVERED)
async def test_the_prescriber_needs_a_registration_covering_3n_until_the_plan_starts(
    clinic, probe, candidate, registrations, changes
):
    staff, prescriber_token = await clinic.add_prescriber("prescriber-2")
    for registration in registrations:
        await clinic.add_registration(staff, **registration)
    body = clinic.plan(candidate, **changes, override_reason=REFUSED_ANYWAY)
    problem = await refused(
        clinic, probe, "/v1/treatment-plans", body, "prescriber-not-registered",
        token=prescriber_token, subject="prescriber-2",
    )  # fmt: skip
    assert [e["pointer"] for e in problem["errors"]] == ["#/starts_on"]

    await clinic.add_registration(staff, schedules=["3N"], expires_on="2028-12-31")
    renewed = await clinic.post("/v1/treatment-plans", body, prescriber_token)
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["prescriber_id"] == staff["id"]


async def test_the_list_filters_plans_by_patient_and_status(clinic, candidate):
    other_patient = await clinic.add_patient()
    completed = await clinic.start_plan(candidate)
    assert (await clinic.patch_plan(completed, status="completed")).status_code == 200
    active = await clinic.start_plan(candidate)
    elsewhere = await clinic.start_plan(await clinic.evaluate(patient_id=other_patient["id"]))

    async def listed(**params: str) -> set[str]:
        response = await clinic.get("/v1/treatment-plans", **params)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await listed(patient_id=clinic.patient["id"]) == {completed["id"], active["id"]}
    assert await listed(status="active") == {active["id"], elsewhere["id"]}


# Status changes


async def test_a_completed_plan_stays_completed(clinic, candidate):
    plan = await clinic.start_plan(candidate)
    response = await clinic.patch_plan(plan, status="completed")
    assert response.status_code == 200, response.text
    completed = response.json()
    assert (completed["status"], completed["version"]) == ("completed", 2)
    assert await clinic.history(plan) == [(1, "active"), (2, "completed")]

    for change in (
        {"status": "discontinued", "status_reason": "nausea"},
        {"status": "completed"},
        {"status": "active"},
    ):
        assert_problem(await clinic.patch_plan(plan, **change), 409, "plan-not-active")
    assert (await clinic.get(f"/v1/treatment-plans/{plan['id']}")).json() == completed
    assert await clinic.history(plan) == [(1, "active"), (2, "completed")]


async def test_discontinuing_a_plan_needs_a_reason(clinic, candidate):
    plan = await clinic.start_plan(candidate)
    unexplained = await clinic.patch_plan(plan, status="discontinued")
    assert_problem(unexplained, 422, "invalid-input", pointer="#")

    response = await clinic.patch_plan(plan, status="discontinued", status_reason="nausea")
    assert response.status_code == 200, response.text
    discontinued = response.json()
    assert (discontinued["status"], discontinued["status_reason"]) == ("discontinued", "nausea")
    assert discontinued["version"] == 2
    assert await clinic.history(plan) == [(1, "active"), (2, "discontinued")]


async def test_setting_an_active_plan_active_changes_nothing(clinic, candidate):
    plan = await clinic.start_plan(candidate)
    response = await clinic.patch_plan(plan, status="active")
    assert response.status_code == 200, response.text
    assert response.json() == plan
    assert await clinic.history(plan) == [(1, "active")]


# Idempotency


async def test_a_retried_plan_post_replays_the_first_plan(clinic, probe, candidate):
    body = clinic.plan(candidate)
    headers = bearer(clinic.prescriber_token) | {"Idempotency-Key": "plan-1"}
    first = await clinic.client.post("/v1/treatment-plans", json=body, headers=headers)
    again = await clinic.client.post("/v1/treatment-plans", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    rows = await probe.business_rows()
    assert len(rows["treatment_plans"]) == 1
    assert len([r for r in rows["revisions"] if "'treatment_plans'" in r]) == 1


async def test_only_a_staff_member_who_is_a_prescriber_evaluates(clinic, probe):
    """A prescriber token is not enough: the staff row it belongs to must be a prescriber's."""
    await clinic.add_staff(role="nurse", subject="nurse-1")
    nurse_token = clinic.token(["prescriber"], [clinic.id], sub="nurse-1")
    problem = await refused(
        clinic, probe, "/v1/evaluations", clinic.evaluation(), "invalid-reference",
        token=nurse_token, subject="nurse-1",
    )  # fmt: skip
    assert [e["pointer"] for e in problem["errors"]] == ["#/prescriber_id"]


async def test_a_plan_cannot_start_before_its_evaluation(clinic, probe, candidate):
    body = clinic.plan(candidate, starts_on="2026-02-26")  # evaluated 2026-02-27
    problem = await refused(clinic, probe, "/v1/treatment-plans", body, "invalid-input")
    assert [e["pointer"] for e in problem["errors"]] == ["#/starts_on"]
    assert (await clinic.start_plan(candidate, starts_on="2026-02-27"))["status"] == "active"


async def test_an_override_with_nothing_to_override_is_not_kept(clinic, candidate):
    evaluation = await clinic.evaluate(override_reason="just in case")
    plan = await clinic.start_plan(candidate, override_reason="just in case")
    assert (evaluation["broken_rules"], evaluation["override_reason"]) == ([], None)
    assert (plan["broken_rules"], plan["override_reason"]) == ([], None)


async def test_today_is_the_registrant_s_own_day(clinic, probe):
    """At 15:00 UTC on 2 March it is already 3 March on Kiritimati (UTC+14)."""
    moved = await clinic.client.patch(
        f"/v1/registrants/{clinic.id}",
        json={"timezone": "Pacific/Kiritimati"},
        headers=bearer(clinic.admin_token),
    )
    assert moved.status_code == 200, moved.text
    assert (await clinic.evaluate(evaluated_on=TOMORROW))["evaluated_on"] == TOMORROW
    day_after = (START.date() + timedelta(days=2)).isoformat()
    body = clinic.evaluation(evaluated_on=day_after)
    problem = await refused(clinic, probe, "/v1/evaluations", body, "invalid-input")
    assert [e["pointer"] for e in problem["errors"]] == ["#/evaluated_on"]


@pytest.mark.parametrize("path", ["/v1/evaluations", "/v1/treatment-plans"])
async def test_without_a_token_nothing_is_read_or_written(clinic, probe, path):
    """Authentication comes first: no token is 401, before the idempotency key or the body."""
    before = await probe.business_rows()
    posted = await clinic.client.post(path, json={})
    listed = await clinic.client.get(path)
    assert (posted.status_code, listed.status_code) == (401, 401)
    assert posted.json()["type"] == "urn:csledger:problem:unauthenticated"
    assert await probe.business_rows() == before
