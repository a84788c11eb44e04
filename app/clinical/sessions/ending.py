"""How a session ends: discharged (with what the REMS asks of an esketamine discharge) or
aborted, its holding emptied or its remainder stated; and, later, the Patient Monitoring Form's
submission."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.clinical.messages import SESSION_DISCHARGED
from app.clinical.schemas import Modality
from app.clinical.sessions import rules, schemas
from app.clinical.sessions.authorization_schemas import AuthorizedStep
from app.clinical.sessions.authorizations import judge
from app.clinical.sessions.models import TreatmentSession
from app.clinical.sessions.service import (
    OPEN,
    UNDER_WAY,
    Status,
    announce,
    begin_step,
    changed,
    not_in_future,
)
from app.clinical.sessions.views import (
    holding_on_hand_mg,
    reading,
    vitals_of,
)
from app.core import outbox
from app.core.errors import AppError, Conflict, InvalidInput
from app.registry.models import Location
from app.registry.service import local_date


class HoldingNotEmpty(AppError):
    slug = "holding-not-empty"
    status = 422
    title = "Holding not empty"
    description = (
        "Stock withdrawn for the session is still in its holding: administer, waste or return "
        "it, or state unresolved_reason (reconciliation flags the amount)."
    )


class RemsAlreadySubmitted(Conflict):
    slug = "rems-already-submitted"
    title = "Monitoring form already submitted"
    description = "The session's Patient Monitoring Form submission is recorded already."


# Ending


async def discharge(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.DischargeCreate, caller: Caller
) -> TreatmentSession:
    step = await begin_step(db, session_id, caller, allowed=UNDER_WAY, acts=False)
    ts = step.ts
    _check_discharge_content(step.modality, data)
    not_in_future(data.discharged_at, caller, "#/discharged_at")
    if data.discharged_at < (ts.dosing_ended_at or ts.started_at or data.discharged_at):
        raise InvalidInput.at("#/discharged_at", "before the session's dosing ended")
    _check_assessment(ts, data)
    facts = rules.DischargeFacts(
        modality=step.modality,
        first_dose_at=ts.first_dose_at,
        discharged_at=data.discharged_at,
        monitoring_minutes=caller.settings.esketamine_monitoring_minutes,
        readings=rules.monitoring_readings(
            [reading(v) for v in await vitals_of(db, ts.id)], ts.first_dose_at, data.discharged_at
        ),
        stable=data.clinical_stability is None or data.clinical_stability.stable,
    )
    entry = await judge(db, rules.discharge_breaks(facts), data, caller,
                        step=AuthorizedStep.discharge, when=data.discharged_at,
                        registrant_id=ts.registrant_id, session_id=ts.id)  # fmt: skip
    ts.broken_rules = [*ts.broken_rules, *entry]
    await announce(db, ts, entry, caller)
    await _close_holding(db, ts, data.unresolved_reason)
    ts.status = Status.discharged.value
    ts.ended_at = data.discharged_at
    if data.clinical_stability is not None:
        ts.clinical_stability = data.clinical_stability.model_dump(mode="json")
    if data.observations is not None:
        ts.observations = data.observations.model_dump(mode="json")
    await changed(db, step)
    await outbox.publish(db, topic=SESSION_DISCHARGED, registrant_id=ts.registrant_id,
                         payload={"session_id": str(ts.id), "patient_id": str(ts.patient_id)},
                         now=caller.now)  # fmt: skip
    return ts


def _check_assessment(ts: TreatmentSession, data: schemas.DischargeCreate) -> None:
    """The stability assessment belongs to this session's monitoring: after dosing began,
    no later than the discharge."""
    stability = data.clinical_stability
    began = ts.first_dose_at or ts.started_at
    if stability is not None and not (
        (began is None or stability.assessed_at >= began)
        and stability.assessed_at <= data.discharged_at
    ):
        raise InvalidInput.at("#/clinical_stability/assessed_at",
                              "between the first dose and the discharge")  # fmt: skip


def _check_discharge_content(modality: Modality, data: schemas.DischargeCreate) -> None:
    """An esketamine discharge carries what the Patient Monitoring Form asks."""
    if modality is not Modality.esketamine_nasal:
        return
    for field in ("clinical_stability", "observations"):
        if getattr(data, field) is None:
            raise InvalidInput.at(f"#/{field}", "an esketamine discharge records it (REMS)")


async def _close_holding(
    db: AsyncSession, ts: TreatmentSession, unresolved_reason: str | None
) -> None:
    """The holding is empty, or what is left in it is stated with a reason."""
    left = await holding_on_hand_mg(db, ts.holding_location_id)
    if left > 0:
        if unresolved_reason is None:
            raise HoldingNotEmpty(f"{left} mg is still in the session's holding")
        ts.unresolved_mg = left
        ts.unresolved_reason = unresolved_reason
    holding = await db.get(Location, ts.holding_location_id)
    assert holding is not None
    holding.active = False


async def abort(
    db: AsyncSession, session_id: uuid.UUID, data: schemas.AbortCreate, caller: Caller
) -> TreatmentSession:
    step = await begin_step(db, session_id, caller, allowed=OPEN, acts=False)
    not_in_future(data.aborted_at, caller, "#/aborted_at")
    await _close_holding(db, step.ts, data.unresolved_reason)
    step.ts.status = Status.aborted.value
    step.ts.ended_at = data.aborted_at
    step.ts.end_reason = data.reason
    await changed(db, step)
    return step.ts


async def record_rems_submission(
    db: AsyncSession,
    session_id: uuid.UUID,
    data: schemas.RemsSubmissionCreate,
    caller: Caller,
) -> TreatmentSession:
    step = await begin_step(db, session_id, caller, allowed=frozenset({Status.discharged}),
                        acts=False)  # fmt: skip
    ts = step.ts
    if step.modality is not Modality.esketamine_nasal:
        raise InvalidInput.at("#", "only esketamine sessions have a Patient Monitoring Form")
    if ts.rems_submitted_on is not None:
        raise RemsAlreadySubmitted(f"submitted on {ts.rems_submitted_on.isoformat()}")
    assert ts.ended_at is not None
    if (
        not local_date(step.registrant, ts.ended_at)
        <= data.submitted_on
        <= local_date(step.registrant, caller.now)
    ):
        raise InvalidInput.at("#/submitted_on", "between the session's discharge and today")
    ts.rems_submitted_on = data.submitted_on
    ts.rems_submission_reference = data.reference
    await changed(db, step)
    return ts
