"""Evaluations and treatment plans as the API answers them: each with the names of its
patient and prescriber beside the ids, loaded once for a whole page
(:class:`app.catalog.names.Names`)."""

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.catalog.names import Names
from app.clinical import schemas
from app.clinical.models import Evaluation, TreatmentPlan

Named = TypeVar("Named", schemas.EvaluationOut, schemas.TreatmentPlanOut)


async def evaluations_out(
    db: AsyncSession, principal: Principal, found: Sequence[Evaluation]
) -> list[schemas.EvaluationOut]:
    return await _named(db, principal, found, schemas.EvaluationOut)


async def plans_out(
    db: AsyncSession, principal: Principal, found: Sequence[TreatmentPlan]
) -> list[schemas.TreatmentPlanOut]:
    return await _named(db, principal, found, schemas.TreatmentPlanOut)


async def _named(
    db: AsyncSession,
    principal: Principal,
    found: Sequence[Evaluation] | Sequence[TreatmentPlan],
    schema: type[Named],
) -> list[Named]:
    names = await Names.load(db, principal, patients=(row.patient_id for row in found),
                             staff=(row.prescriber_id for row in found))  # fmt: skip
    return [
        schema.model_validate(row).model_copy(update={
            "patient": names.patients.get(row.patient_id),
            "prescriber": names.staff.get(row.prescriber_id),
        })
        for row in found
    ]  # fmt: skip
