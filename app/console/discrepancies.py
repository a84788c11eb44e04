"""The discrepancy queue and a discrepancy's case: compliance officers read them, and work a
case (assign it, write on it, move it) through the same services as the API."""

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response

from app.auth.permissions import Permission
from app.console import cases, overview
from app.console.web import (
    PREFIX,
    Acting,
    CsrfChecked,
    SignedIn,
    console_router,
    page,
    see_other,
)
from app.edge.audit import audited
from app.edge.deps import ClockDep, SessionDep
from app.reconciliation import casework, schemas, service
from app.reconciliation.workflow import Severity, Status
from app.registry.service import local_date

router = console_router()

TRANSITION_FIELDS = ("to", "reason_code", "note", "notice_given_on", "reported_on",
                     "report_reference")  # fmt: skip


@router.get("/discrepancies")
async def queue_page(request: Request, user: SignedIn, db: SessionDep, clock: ClockDep) -> Response:
    user.principal.require(Permission.reports)
    params = request.query_params
    found = await overview.registrants(
        db, user.principal, cases.uuid_param(params, "registrant_id")
    )
    asking = cases.asked(params, found.chosen)
    today = {r.id: local_date(r, clock.now()) for r in found.all}
    context: dict[str, Any] = {
        "active": "discrepancies", "allow_all": True, **found.context(), "asked": asking,
        "queue": await cases.queue_of(db, user.principal, asking, today),
        "choices": await cases.choices(db, user.principal, found.chosen) if found.chosen else None,
        "names": {r.id: r.name for r in found.all}, "severities": list(reversed(Severity)),
        "statuses": list(Status), "STILL_WORKED": cases.STILL_WORKED,
        "EVERY_STATUS": cases.EVERY_STATUS, "paged": lambda n: _paged(request, n),
    }  # fmt: skip
    return page(request, "discrepancies.html", user, context)


def _paged(request: Request, number: int) -> str:
    """This queue's address, at page ``number``."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return f"{PREFIX}/discrepancies?{urlencode([*kept, ('page', str(number))])}"


@router.get("/discrepancies/{discrepancy_id}")
@audited("discrepancy", "discrepancy_id", kind="patient_read")
async def case_page(
    request: Request, discrepancy_id: uuid.UUID, user: SignedIn, db: SessionDep, clock: ClockDep
) -> Response:
    found = await service.get_discrepancy(db, discrepancy_id, principal=user.principal)
    case = await cases.case_of(db, user.principal, found, clock.now())
    context = {"active": "discrepancies", "case": case, "registrant": case.registrant}
    return page(request, "discrepancy.html", user, context)


@router.post("/discrepancies/{discrepancy_id}/transitions", dependencies=[CsrfChecked])
@audited("discrepancy", "discrepancy_id")
async def move(
    request: Request, discrepancy_id: uuid.UUID, caller: Acting, db: SessionDep,
) -> Response:  # fmt: skip
    """The case's forms to move it: acknowledge, resolve, unable to reconcile, report."""
    data = cases.form_model(schemas.TransitionCreate, await request.form(), TRANSITION_FIELDS)
    await service.transition(db, discrepancy_id, data, caller)
    return see_other(_case_url(discrepancy_id))


@router.post("/discrepancies/{discrepancy_id}/assignment", dependencies=[CsrfChecked])
@audited("discrepancy", "discrepancy_id")
async def assign(
    request: Request, discrepancy_id: uuid.UUID, caller: Acting, db: SessionDep,
) -> Response:  # fmt: skip
    form = await request.form()
    staff_id = cases.uuid_param({"staff_id": str(form.get("staff_id") or "")}, "staff_id")
    data = schemas.AssignmentCreate(staff_id=staff_id)
    await casework.assign(db, discrepancy_id, data, caller)
    return see_other(_case_url(discrepancy_id))


@router.post("/discrepancies/{discrepancy_id}/notes", dependencies=[CsrfChecked])
@audited("discrepancy", "discrepancy_id")
async def write_note(
    request: Request, discrepancy_id: uuid.UUID, caller: Acting, db: SessionDep
) -> Response:
    data = cases.form_model(schemas.NoteCreate, await request.form(), ("text",))
    await casework.add_note(db, discrepancy_id, data, caller)
    return see_other(_case_url(discrepancy_id) + "#notes")


def _case_url(discrepancy_id: uuid.UUID) -> str:
    return f"{PREFIX}/discrepancies/{discrepancy_id}"
