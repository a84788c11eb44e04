"""Session routes (clinicians, prescribers, integrations): thin over the service."""

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response, status

from app.auth.principal import Principal
from app.clinical.sessions import authorizations, ending, schemas, service, steps
from app.clinical.sessions.authorization_schemas import AuthorizationCreate, AuthorizationOut
from app.clinical.sessions.models import SessionAuthorization, TreatmentSession
from app.clinical.sessions.types import SessionStatus
from app.clinical.sessions.views import session_out, sessions_listed
from app.core.pagination import Page, paginate
from app.core.revisions import history
from app.edge.audit import audited
from app.edge.deps import (
    ClockDep,
    CurrentCaller,
    CurrentPrincipal,
    IdempotencyRequired,
    Idempotent,
    SessionDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router
from app.ledger.rows import EventRow
from app.registry.schemas import RevisionOut

router = api_router(dependencies=[Depends(current_principal)], tags=["sessions"])


@router.post(
    "/sessions",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=schemas.SessionOut,
)
@audited("session")
async def create_session(
    body: schemas.SessionCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.SessionOut:
    """Schedule a session under the patient's active IV or esketamine plan; it opens its own
    holding. Esketamine needs a REMS-certified setting and an enrolled patient (never
    overridden); a session outside the plan's dates or beyond its sessions per week or in
    total needs a prescriber's `override_reason`, or a clinician's
    `override_authorization_id` (a prescriber's authorization under the plan)."""
    ts = await service.create_session(session, data=body, caller=caller)
    set_location(response, f"/v1/sessions/{ts.id}")
    return await session_out(session, ts, caller.principal)


@router.get("/sessions", response_model=Page[schemas.SessionListedOut])
@audited("session", kind="patient_read")
async def list_sessions(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    status: SessionStatus | None = None,
) -> dict[str, object]:
    """Sessions in the order they were recorded; each one whole at `GET /v1/sessions/{id}`."""
    statement = service.sessions_query(
        principal, registrant_id=registrant_id, patient_id=patient_id, plan_id=plan_id,
        status=status,
    )  # fmt: skip
    found, next_cursor = await paginate(
        session, statement, created_at=TreatmentSession.created_at, row_id=TreatmentSession.id,
        limit=limit, cursor=cursor,
    )  # fmt: skip
    return {"items": await sessions_listed(session, principal, found), "next_cursor": next_cursor}


@router.get("/sessions/{session_id}", response_model=schemas.SessionOut)
@audited("session", "session_id", kind="patient_read")
async def get_session(
    session_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> schemas.SessionOut:
    ts = await service.get_session(session, session_id, principal=principal)
    return await session_out(session, ts, principal)


@router.get("/sessions/{session_id}/history", response_model=list[RevisionOut])
@audited("session", "session_id", kind="patient_read")
async def session_history(
    session_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> object:
    """Every version of the session's record, oldest first."""
    ts = await service.get_session(session, session_id, principal=principal)
    return await history(session, ts)


async def _step_out(
    response: Response,
    session: SessionDep,
    ts: TreatmentSession,
    row: EventRow,
    principal: Principal,
) -> schemas.SessionStepOut:
    set_location(response, f"/v1/ledger/events/{row['id']}")
    out = await session_out(session, ts, principal)
    event = next(e for e in out.events if e.id == row["id"])
    return schemas.SessionStepOut(event=event, session=out)


@router.post(
    "/sessions/{session_id}/withdrawals",
    operation_id="record_session_withdrawal",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=schemas.SessionStepOut,
)
@audited("session", "session_id")
async def withdraw(
    session_id: uuid.UUID,
    body: schemas.WithdrawalCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.SessionStepOut:
    """Take stock from storage into the session's holding (a ledger `move`); the first
    withdrawal starts the session."""
    ts, row = await steps.withdraw(session, session_id, body, caller)
    return await _step_out(response, session, ts, row, caller.principal)


@router.post(
    "/sessions/{session_id}/administrations",
    operation_id="record_session_administration",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=schemas.SessionStepOut,
)
@audited("session", "session_id")
async def administer(
    session_id: uuid.UUID,
    body: schemas.AdministrationCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.SessionStepOut:
    """Give from the holding (a ledger `administer`): an IV infusion with its start and end,
    or one esketamine device. A dose beyond the plan (IV: beyond the tolerance), an esketamine
    device without a pre-dose blood pressure, above the threshold, or within 5 minutes of the
    previous one needs a prescriber's `override_reason`; a clinician first asks a prescriber
    to authorize it (`POST /v1/session-authorizations`) and sends its
    `override_authorization_id`, and is recorded as who gave it, beside who authorized it.
    Once the dose is given the session is observing."""
    ts, row = await steps.administer(session, session_id, body, caller)
    return await _step_out(response, session, ts, row, caller.principal)


@router.post(
    "/sessions/{session_id}/waste",
    operation_id="record_session_waste",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=schemas.SessionStepOut,
)
@audited("session", "session_id")
async def waste(
    session_id: uuid.UUID,
    body: schemas.WasteCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.SessionStepOut:
    """Waste the unused remainder from the holding in front of a witness (not the waster),
    who then confirms with their own token; until then the event is unwitnessed."""
    ts, row = await steps.waste(session, session_id, body, caller)
    return await _step_out(response, session, ts, row, caller.principal)


@router.post(
    "/sessions/{session_id}/returns",
    operation_id="record_session_return",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=schemas.SessionStepOut,
)
@audited("session", "session_id")
async def return_to_stock(
    session_id: uuid.UUID,
    body: schemas.ReturnCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.SessionStepOut:
    """Return unused, intact stock from the holding to storage."""
    ts, row = await steps.return_to_stock(session, session_id, body, caller)
    return await _step_out(response, session, ts, row, caller.principal)


@router.post(
    "/sessions/{session_id}/witness-confirmations",
    operation_id="confirm_session_witness",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=schemas.SessionOut,
)
@audited("session", "session_id")
async def confirm_witness(
    session_id: uuid.UUID,
    body: schemas.WitnessConfirmationCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.SessionOut:
    """The caller, a witness the session's event names, confirms it with their own token."""
    ts = await steps.confirm_witness(session, session_id, body.event_id, caller)
    return await session_out(session, ts, caller.principal)


@router.post(
    "/sessions/{session_id}/vitals",
    operation_id="record_session_vitals",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=schemas.VitalsOut,
)
@audited("session", "session_id")
async def record_vitals(
    session_id: uuid.UUID,
    body: schemas.VitalsCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> object:
    """Record a reading (blood pressure, heart rate, SpO2) at any point of an open session;
    beyond a clinic threshold it is kept with an alert."""
    vitals = await steps.record_vitals(session, session_id, body, caller)
    return vitals


@router.post(
    "/sessions/{session_id}/discharge",
    operation_id="discharge_session",
    dependencies=IdempotencyRequired,
    response_model=schemas.SessionOut,
)
@audited("session", "session_id")
async def discharge(
    session_id: uuid.UUID,
    body: schemas.DischargeCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.SessionOut:
    """Discharge the patient. The holding must be empty or its remainder explained in
    `unresolved_reason`. Esketamine: the clinical-stability assessment and observations are
    required; discharge before the monitoring time, without the three blood pressures, or
    of a patient assessed unstable needs a prescriber's `override_reason`, or a clinician's
    `override_authorization_id` (`POST /v1/session-authorizations`)."""
    ts = await ending.discharge(session, session_id, body, caller)
    return await session_out(session, ts, caller.principal)


@router.post(
    "/sessions/{session_id}/abort",
    operation_id="abort_session",
    dependencies=IdempotencyRequired,
    response_model=schemas.SessionOut,
)
@audited("session", "session_id")
async def abort(
    session_id: uuid.UUID,
    body: schemas.AbortCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.SessionOut:
    """End a session that will not be completed, with the reason; the holding as at discharge."""
    ts = await ending.abort(session, session_id, body, caller)
    return await session_out(session, ts, caller.principal)


@router.post(
    "/sessions/{session_id}/rems-submission",
    dependencies=IdempotencyRequired,
    response_model=schemas.SessionOut,
)
@audited("session", "session_id")
async def record_rems_submission(
    session_id: uuid.UUID,
    body: schemas.RemsSubmissionCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.SessionOut:
    """Record the day the esketamine session's Patient Monitoring Form was submitted to the
    REMS (due within 7 days of the session)."""
    ts = await ending.record_rems_submission(session, session_id, body, caller)
    return await session_out(session, ts, caller.principal)


@router.post(
    "/session-authorizations",
    operation_id="authorize_session_step",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    response_model=AuthorizationOut,
)
@audited("session_authorization")
async def authorize_step(
    body: AuthorizationCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> AuthorizationOut:
    """A prescriber, with their own token, authorizes another clinician (`performer_id`) to
    take one step that breaks session rules: an administration or a discharge of
    `session_id`, or scheduling a session under `plan_id` (an extra one). The clinician then
    sends the step with `override_authorization_id`: the step is theirs, the override the
    prescriber's, and the session's `broken_rules` names both. It is used once, by that
    clinician, for a step breaking only the rules it names, taken after it and within
    `session_authorization_minutes`; the REMS rules are never authorized."""
    row = await authorizations.authorize(session, body, caller)
    set_location(response, f"/v1/session-authorizations/{row.id}")
    [out] = await authorizations.authorizations_out(session, [row], caller.principal)
    return out


@router.get("/session-authorizations", response_model=Page[AuthorizationOut])
@audited("session_authorization")
async def list_authorizations(
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    usable: Annotated[
        bool | None,
        Query(description="true: only those a clinician may still use (not used, not expired)"),
    ] = None,
) -> dict[str, object]:
    """Authorizations in the order they were given: a clinician's system finds here the one a
    prescriber gave for a session (or a plan), to send as `override_authorization_id`."""
    statement = authorizations.authorizations_query(
        principal, registrant_id=registrant_id, session_id=session_id, plan_id=plan_id,
        usable_at=clock.now() if usable else None,
    )  # fmt: skip
    found, next_cursor = await paginate(
        session, statement, created_at=SessionAuthorization.authorized_at,
        row_id=SessionAuthorization.id, limit=limit, cursor=cursor,
    )  # fmt: skip
    items = await authorizations.authorizations_out(session, found, principal)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/session-authorizations/{authorization_id}", response_model=AuthorizationOut)
@audited("session_authorization", "authorization_id")
async def get_authorization(
    authorization_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> AuthorizationOut:
    """An authorization, and whether a step used it."""
    row = await authorizations.get_authorization(session, authorization_id, principal=principal)
    [out] = await authorizations.authorizations_out(session, [row], principal)
    return out
