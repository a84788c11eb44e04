"""Discrepancy routes: compliance officers read and move them."""

import uuid

from fastapi import Depends, Response, status

from app.auth.permissions import Permission
from app.auth.tenancy import get_readable
from app.core.errors import InvalidInput, NotFound
from app.core.jobs import Job
from app.core.pagination import Page, paginate
from app.core.schemas import Instant, QueryText
from app.edge.audit import audited
from app.edge.deps import (
    ClockDep,
    CurrentCaller,
    CurrentPrincipal,
    Idempotent,
    SessionDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router
from app.reconciliation import casework, runs, schemas, service, views
from app.reconciliation.models import Discrepancy
from app.reconciliation.workflow import Severity, Status
from app.registry.service import get_registrant

router = api_router(dependencies=[Depends(current_principal)], tags=["reconciliation"])


@router.get("/discrepancies", response_model=Page[schemas.DiscrepancyOut])
@audited("discrepancy")
async def list_discrepancies(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    status: Status | None = None,
    severity: Severity | None = None,
    rule: QueryText | None = None,
    product_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    assigned_to: uuid.UUID | None = None,
    found_from: Instant | None = None,
    found_to: Instant | None = None,
) -> dict[str, object]:
    """Discrepancies in the order they were opened (filters combine): ``staff_id`` finds
    those about a person's work, ``assigned_to`` those a person works."""
    filters = schemas.DiscrepancyFilters(
        registrant_id=registrant_id, status=status, severity=severity, rule=rule,
        product_id=product_id, lot_id=lot_id, location_id=location_id, staff_id=staff_id,
        assigned_to=assigned_to, found_from=found_from, found_to=found_to,
    )  # fmt: skip
    statement = service.discrepancies_query(principal, filters)
    found, next_cursor = await paginate(
        session, statement, created_at=Discrepancy.created_at, row_id=Discrepancy.id,
        limit=limit, cursor=cursor,
    )  # fmt: skip
    items = await views.discrepancies_out(session, principal, found)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/discrepancies/{discrepancy_id}", response_model=schemas.DiscrepancyDetailOut)
@audited("discrepancy", "discrepancy_id", kind="patient_read")
async def get_discrepancy(
    discrepancy_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> schemas.DiscrepancyDetailOut:
    found = await service.get_discrepancy(session, discrepancy_id, principal=principal)
    return await views.discrepancy_detail(session, principal, found)


@router.post(
    "/discrepancies/{discrepancy_id}/transitions",
    dependencies=[Idempotent],
    response_model=schemas.DiscrepancyDetailOut,
)
@audited("discrepancy", "discrepancy_id")
async def transition_discrepancy(
    discrepancy_id: uuid.UUID,
    body: schemas.TransitionCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.DiscrepancyDetailOut:
    """Move a discrepancy forward: acknowledge it; resolve it with a reason code, or find it
    unable to reconcile; report it (Form 106 date and reference). A theft or significant loss
    may be reported directly. Compliance officers only, never on their own work. Curing is a
    run's move alone (when the finding's condition no longer holds), and a cured discrepancy
    is not moved by a person."""
    found = await service.transition(session, discrepancy_id, body, caller=caller)  # fmt: skip
    return await views.discrepancy_detail(session, caller.principal, found)


@router.post(
    "/discrepancies/{discrepancy_id}/assignment",
    dependencies=[Idempotent],
    response_model=schemas.DiscrepancyDetailOut,
)
@audited("discrepancy", "discrepancy_id")
async def assign_discrepancy(
    discrepancy_id: uuid.UUID,
    body: schemas.AssignmentCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.DiscrepancyDetailOut:
    """Assign a discrepancy to a member of staff of its registrant, or reassign it (``null``:
    to nobody); every assignment is kept. Compliance officers only; nobody assigns the case
    of their own work, nor is assigned it."""
    found = await casework.assign(session, discrepancy_id, body, caller)
    return await views.discrepancy_detail(session, caller.principal, found)


@router.post(
    "/discrepancies/{discrepancy_id}/notes",
    dependencies=[Idempotent],
    response_model=schemas.DiscrepancyDetailOut,
)
@audited("discrepancy", "discrepancy_id")
async def add_discrepancy_note(
    discrepancy_id: uuid.UUID,
    body: schemas.NoteCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.DiscrepancyDetailOut:
    """Write a note on a discrepancy's case: kept as written, signed and dated, never changed;
    the answer is the discrepancy with all its notes. Compliance officers only."""
    found = await casework.add_note(session, discrepancy_id, body, caller)
    return await views.discrepancy_detail(session, caller.principal, found)


def _run_out(job: Job) -> schemas.RunOut:
    assert job.registrant_id is not None
    return schemas.RunOut(
        id=job.id, registrant_id=job.registrant_id, first_day=job.payload["first_day"],
        last_day=job.payload["last_day"], requested_by=job.payload["requested_by"],
        status=job.status, attempts=job.attempts, result=job.result, last_error=job.last_error,
        created_at=job.created_at, finished_at=job.finished_at,
    )  # fmt: skip


async def _run(session: SessionDep, run_id: uuid.UUID, principal: CurrentPrincipal) -> Job:
    job = await get_readable(session, Job, run_id, principal, what="reconciliation run")
    if job.kind != runs.JOB_KIND:
        raise NotFound("reconciliation run not found")
    principal.require(Permission.adjust_reverse_resolve)
    return job


@router.post(
    "/reconciliation/runs",
    operation_id="start_reconciliation_run",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Idempotent],
    response_model=schemas.RunOut,
)
@audited("reconciliation_run")
async def start_run(
    body: schemas.RunCreate,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
) -> schemas.RunOut:
    """Queue a reconciliation run of one registrant's days (the worker runs it; running a
    period again updates its discrepancies rather than duplicating them)."""
    await get_registrant(session, body.registrant_id, principal=principal)
    principal.require(Permission.adjust_reverse_resolve)
    if body.last_day < body.first_day:
        raise InvalidInput.at("#/last_day", "before first_day")
    period = runs.Period(body.first_day, body.last_day)
    run_id = await runs.queue_run(session, body.registrant_id, period, clock.now(),
                                  requested_by=principal.subject)  # fmt: skip
    assert run_id is not None
    await session.flush()
    set_location(response, f"/v1/reconciliation/runs/{run_id}")
    return _run_out(await _run(session, run_id, principal))


@router.get(
    "/reconciliation/runs/{run_id}",
    operation_id="get_reconciliation_run",
    response_model=schemas.RunOut,
)
async def get_run(
    run_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> schemas.RunOut:
    return _run_out(await _run(session, run_id, principal))
