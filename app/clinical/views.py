"""Evaluations and treatment plans as the API answers them: each with the names of its
patient and prescriber beside the ids, loaded once for a whole page
(:class:`app.catalog.names.Names`)."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.catalog.names import Names
from app.clinical import schemas
from app.clinical.models import Evaluation, TreatmentPlan


async def _names(
    db: AsyncSession, principal: Principal, found: Sequence[Evaluation | TreatmentPlan]
) -> Names:
    return await Names.load(db, principal, patients=(row.patient_id for row in found),
                            staff=(row.prescriber_id for row in found))  # fmt: skip


async def evaluations_out(
    db: AsyncSession, principal: Principal, found: Sequence[Evaluation]
) -> list[schemas.EvaluationOut]:
    names = await _names(db, principal, found)
    return [
        schemas.EvaluationOut.model_validate(row).model_copy(update={
            "patient": names.patients.get(row.patient_id),
            "prescriber": names.staff.get(row.prescriber_id),
        })
        for row in found
    ]  # fmt: skip


async def plans_out(
    db: AsyncSession, principal: Principal, found: Sequence[TreatmentPlan]
) -> list[schemas.TreatmentPlanOut]:
    names = await _names(db, principal, found)
    return [
        schemas.TreatmentPlanOut.model_validate(row).model_copy(update={
            "patient": names.patients.get(row.patient_id),
            "prescriber": names.staff.get(row.prescriber_id),
        })
        for row in found
    ]  # fmt: skip
