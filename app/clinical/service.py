"""Evaluations and treatment plans: who may write them, what they rest on, what they break."""

import uuid
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.clinical import rules, schemas
from app.clinical.models import Evaluation, TreatmentPlan
from app.core.db import where_given
from app.core.errors import AppError, Conflict, FieldError, InvalidInput
from app.core.revisions import keep_version, revise
from app.core.tenancy import InvalidReference, find, invalid, referenced
from app.registry.enums import StaffRole
from app.registry.models import Patient, Staff, StaffRegistration
from app.registry.people import acting_staff
from app.registry.service import get_registrant, local_date

CONTROLLED_SCHEDULE = "3N"
"""Ketamine's schedule: a prescriber's registration must cover it."""


class PrescriberNotRegistered(AppError):
    slug = "prescriber-not-registered"
    status = 422
    title = "Prescriber not registered"
    description = (
        "The prescriber has no DEA registration covering Schedule III non-narcotics that is "
        "valid on the plan's dates; this is the law, not a clinical rule, and is not overridden."
    )


class EvaluationNotCandidate(AppError):
    slug = "evaluation-not-candidate"
    status = 422
    title = "Evaluation does not make the patient a candidate"
    description = "A treatment plan rests on an evaluation whose outcome is candidate."


class PlanNotActive(Conflict):
    slug = "plan-not-active"
    title = "Plan not active"
    description = "A plan's status moves forward only: a completed or discontinued plan stays so."


async def _own_prescriber(
    session: AsyncSession, registrant_id: uuid.UUID, named: uuid.UUID | None, principal: Principal
) -> Staff:
    """The caller's active staff row at the registrant, a prescriber's: prescribers write their
    own records, and a prescriber token on a nurse's staff row does not make them one."""
    staff = await acting_staff(session, registrant_id=registrant_id, named=named,
                               principal=principal, pointer="#/prescriber_id")  # fmt: skip
    if staff.role != StaffRole.prescriber:
        detail = f"your staff row is a {staff.role}'s, not a prescriber's"
        raise InvalidReference(detail, errors=[FieldError(pointer="#/prescriber_id",
                                                          detail=detail)])  # fmt: skip
    return staff


# Evaluations


async def create_evaluation(
    session: AsyncSession,
    *,
    data: schemas.EvaluationCreate,
    caller: Caller,
) -> Evaluation:
    registrant = await get_registrant(session, data.registrant_id, principal=caller.principal)
    caller.principal.require(Permission.clinical_plans)
    await referenced(session, Patient, data.patient_id, registrant_id=registrant.id,
                     pointer="#/patient_id", what="patient")  # fmt: skip
    prescriber = await _own_prescriber(session, registrant.id, data.prescriber_id, caller.principal)
    if data.evaluated_on > local_date(registrant, caller.now):
        raise InvalidInput.at("#/evaluated_on", "an evaluation cannot be dated in the future")
    facts = rules.EvaluationFacts(
        candidate=data.outcome is schemas.EvaluationOutcome.candidate,
        contraindications=frozenset(
            name for name, present in data.contraindications.model_dump().items() if present
        ),
        trials=[
            rules.Trial(
                weeks=t.duration_weeks, failed=t.outcome is schemas.TrialOutcome.inadequate_response
            )
            for t in data.prior_treatments
        ],
    )
    broken = rules.refuse_unless_overridden(rules.evaluation_breaks(facts), data.override_reason)
    override_reason = data.override_reason if broken else None
    evaluation = Evaluation(
        id=uuid.uuid4(),
        **data.model_dump(mode="json", exclude={"prescriber_id", "registrant_id", "patient_id",
                                                "evaluated_on", "override_reason"}),
        override_reason=override_reason,
        registrant_id=registrant.id,
        patient_id=data.patient_id,
        prescriber_id=prescriber.id,
        evaluated_on=data.evaluated_on,
        broken_rules=broken,
        recorded_by=caller.principal.subject,
        created_at=caller.now,
    )  # fmt: skip
    session.add(evaluation)
    await session.flush()
    return evaluation


async def get_evaluation(
    session: AsyncSession, evaluation_id: uuid.UUID, *, principal: Principal
) -> Evaluation:
    principal.require(Permission.clinical_plans)
    return await get_readable(session, Evaluation, evaluation_id, principal, what="evaluation")


def evaluations_query(
    principal: Principal, *, registrant_id: uuid.UUID | None, patient_id: uuid.UUID | None
) -> Select[Evaluation]:
    principal.require(Permission.clinical_plans)
    statement = within_registrants(
        select(Evaluation), Evaluation.registrant_id, principal, registrant_id
    )
    return where_given(statement, (Evaluation.patient_id, patient_id))


# Treatment plans


async def _require_registration(
    session: AsyncSession, prescriber: Staff, starts_on: date, today: date
) -> None:
    """A registration covering ketamine's schedule, not expired on the day the plan starts (or
    today, if later): renewals are rows of their own, so any one of them may cover it."""
    registrations = await session.scalars(
        select(StaffRegistration).where(StaffRegistration.staff_id == prescriber.id)
    )
    needed_from = max(starts_on, today)
    if not any(
        CONTROLLED_SCHEDULE in r.schedules and r.expires_on >= needed_from for r in registrations
    ):
        raise PrescriberNotRegistered(
            f"no registration of yours covering schedule {CONTROLLED_SCHEDULE} is valid on "
            f"{needed_from.isoformat()}",
            errors=[FieldError(pointer="#/starts_on", detail="no covering registration then")],
        )


async def _candidate_evaluation(
    session: AsyncSession, data: schemas.TreatmentPlanCreate
) -> Evaluation:
    evaluation = await find(session, Evaluation, data.evaluation_id, (data.registrant_id,))
    if evaluation is None or evaluation.patient_id != data.patient_id:
        raise invalid("#/evaluation_id", "evaluation of this patient")
    if evaluation.outcome != schemas.EvaluationOutcome.candidate:
        raise EvaluationNotCandidate(
            f"evaluation {evaluation.id} found the patient not a candidate",
            errors=[FieldError(pointer="#/evaluation_id", detail="not a candidate evaluation")],
        )
    return evaluation


async def create_plan(
    session: AsyncSession,
    *,
    data: schemas.TreatmentPlanCreate,
    caller: Caller,
) -> TreatmentPlan:
    registrant = await get_registrant(session, data.registrant_id, principal=caller.principal)
    caller.principal.require(Permission.clinical_plans)
    await referenced(session, Patient, data.patient_id, registrant_id=registrant.id,
                     pointer="#/patient_id", what="patient")  # fmt: skip
    prescriber = await _own_prescriber(session, registrant.id, data.prescriber_id, caller.principal)
    evaluation = await _candidate_evaluation(session, data)
    if data.starts_on < evaluation.evaluated_on:
        raise InvalidInput.at("#/starts_on", "a plan cannot start before its evaluation")
    await _require_registration(
        session, prescriber, data.starts_on, local_date(registrant, caller.now)
    )
    broken = rules.refuse_unless_overridden(
        rules.iv_dose_breaks(data.dose_mg_per_kg), data.override_reason
    )
    plan = TreatmentPlan(
        id=uuid.uuid4(),
        **data.model_dump(exclude={"prescriber_id", "override_reason"}),
        override_reason=data.override_reason if broken else None,
        prescriber_id=prescriber.id,
        status=schemas.PlanStatus.active.value,
        status_reason=None,
        broken_rules=broken,
        created_by=caller.principal.subject,
        version=1,
        created_at=caller.now,
        updated_at=caller.now,
    )
    session.add(plan)
    await session.flush()
    await keep_version(
        session, plan, schemas.TreatmentPlanRecordOut, by=caller.principal.subject, at=caller.now
    )
    return plan


async def get_plan(
    session: AsyncSession, plan_id: uuid.UUID, *, principal: Principal
) -> TreatmentPlan:
    principal.require(Permission.clinical_plans)
    return await get_readable(session, TreatmentPlan, plan_id, principal,
                              what="treatment plan")  # fmt: skip


def plans_query(
    principal: Principal,
    *,
    registrant_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    status: schemas.PlanStatus | None,
) -> Select[TreatmentPlan]:
    principal.require(Permission.clinical_plans)
    statement = within_registrants(
        select(TreatmentPlan), TreatmentPlan.registrant_id, principal, registrant_id
    )
    return where_given(
        statement,
        (TreatmentPlan.patient_id, patient_id),
        (TreatmentPlan.status, status.value if status else None),
    )


async def update_plan(
    session: AsyncSession,
    plan_id: uuid.UUID,
    *,
    data: schemas.TreatmentPlanUpdate,
    caller: Caller,
) -> TreatmentPlan:
    plan = await get_plan(session, plan_id, principal=caller.principal)
    if plan.status != schemas.PlanStatus.active:
        raise PlanNotActive(f"the plan is {plan.status}")
    if data.status is schemas.PlanStatus.active:
        return plan  # already so: nothing changes, nothing is recorded
    plan.status = data.status.value
    plan.status_reason = data.status_reason
    await revise(
        session, plan, schemas.TreatmentPlanRecordOut, by=caller.principal.subject, at=caller.now
    )
    return plan
