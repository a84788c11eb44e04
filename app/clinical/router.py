"""Clinical routes: evaluations and treatment plans (prescribers)."""

import uuid
from typing import cast

from fastapi import Depends, Response, status

from app.clinical import schemas, service, views
from app.clinical.models import Evaluation, TreatmentPlan
from app.core.pagination import Page, page_of
from app.core.revisions import history
from app.edge.audit import audited
from app.edge.deps import CurrentCaller, CurrentPrincipal, Idempotent, SessionDep, current_principal
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router
from app.registry.schemas import RevisionOut

router = api_router(dependencies=[Depends(current_principal)])


@router.post(
    "/evaluations",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    tags=["evaluations"],
    response_model=schemas.EvaluationOut,
)
@audited("evaluation")
async def create_evaluation(
    body: schemas.EvaluationCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.EvaluationOut:
    """Record a prescriber's evaluation. Calling the patient a candidate despite a positive
    screen, or without two failed adequate trials, needs `override_reason`."""
    evaluation = await service.create_evaluation(session, data=body, caller=caller)
    set_location(response, f"/v1/evaluations/{evaluation.id}")
    [out] = await views.evaluations_out(session, caller.principal, [evaluation])
    return out


@router.get("/evaluations", tags=["evaluations"], response_model=Page[schemas.EvaluationOut])
@audited("evaluation", kind="patient_read")
async def list_evaluations(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
) -> dict[str, object]:
    statement = service.evaluations_query(
        principal, registrant_id=registrant_id, patient_id=patient_id
    )
    page = await page_of(session, statement, Evaluation, limit=limit, cursor=cursor)
    found = cast(list[Evaluation], page["items"])
    return page | {"items": await views.evaluations_out(session, principal, found)}


@router.get(
    "/evaluations/{evaluation_id}", tags=["evaluations"], response_model=schemas.EvaluationOut
)
@audited("evaluation", "evaluation_id", kind="patient_read")
async def get_evaluation(
    evaluation_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> schemas.EvaluationOut:
    evaluation = await service.get_evaluation(session, evaluation_id, principal=principal)
    [out] = await views.evaluations_out(session, principal, [evaluation])
    return out


@router.post(
    "/treatment-plans",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    tags=["treatment-plans"],
    response_model=schemas.TreatmentPlanOut,
)
@audited("treatment_plan")
async def create_treatment_plan(
    body: schemas.TreatmentPlanCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.TreatmentPlanOut:
    """Plan a patient's treatment on a candidate evaluation. The prescriber needs a DEA
    registration covering schedule 3N; an IV dose outside 0.1 to 0.75 mg/kg needs
    `override_reason`."""
    plan = await service.create_plan(session, data=body, caller=caller)
    set_location(response, f"/v1/treatment-plans/{plan.id}")
    [out] = await views.plans_out(session, caller.principal, [plan])
    return out


@router.get(
    "/treatment-plans", tags=["treatment-plans"], response_model=Page[schemas.TreatmentPlanOut]
)
@audited("treatment_plan", kind="patient_read")
async def list_treatment_plans(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    status: schemas.PlanStatus | None = None,
) -> dict[str, object]:
    statement = service.plans_query(
        principal, registrant_id=registrant_id, patient_id=patient_id, status=status
    )
    page = await page_of(session, statement, TreatmentPlan, limit=limit, cursor=cursor)
    found = cast(list[TreatmentPlan], page["items"])
    return page | {"items": await views.plans_out(session, principal, found)}


@router.get(
    "/treatment-plans/{plan_id}", tags=["treatment-plans"], response_model=schemas.TreatmentPlanOut
)
@audited("treatment_plan", "plan_id", kind="patient_read")
async def get_treatment_plan(
    plan_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> schemas.TreatmentPlanOut:
    plan = await service.get_plan(session, plan_id, principal=principal)
    [out] = await views.plans_out(session, principal, [plan])
    return out


@router.patch(
    "/treatment-plans/{plan_id}", tags=["treatment-plans"], response_model=schemas.TreatmentPlanOut
)
@audited("treatment_plan", "plan_id")
async def update_treatment_plan(
    plan_id: uuid.UUID,
    body: schemas.TreatmentPlanUpdate,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.TreatmentPlanOut:
    """Complete or discontinue an active plan (forward only; every version is kept)."""
    plan = await service.update_plan(session, plan_id, data=body, caller=caller)
    [out] = await views.plans_out(session, caller.principal, [plan])
    return out


@router.get(
    "/treatment-plans/{plan_id}/history",
    tags=["treatment-plans"],
    response_model=list[RevisionOut],
)
@audited("treatment_plan", "plan_id", kind="patient_read")
async def treatment_plan_history(
    plan_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> object:
    plan = await service.get_plan(session, plan_id, principal=principal)
    return await history(session, plan)
