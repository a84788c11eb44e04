"""The PDMP page of a pharmacy: the days still to report, each previewed (the ASAP file as it
would be sent), submitted, and answered (what the state said), through the same services as
the API's PDMP routes."""

import uuid
from datetime import date
from typing import Any

from fastapi import Request, Response
from pydantic import ValidationError

from app.auth.permissions import Permission
from app.console import overview, pdmp_view
from app.console.web import Acting, CsrfChecked, SignedIn, console_router, page, see_other
from app.core.errors import FieldError, InvalidInput
from app.edge.audit import audited
from app.edge.deps import ClockDep, SessionDep, SettingsDep
from app.edge.problems import field_errors
from app.reports.pdmp import service, submissions
from app.reports.pdmp.router import DayParam
from app.reports.pdmp.schemas import PdmpResponseCreate, PdmpResponseOutcome

router = console_router()


@router.get("/pdmp")
async def pdmp_page(
    request: Request,
    user: SignedIn,
    db: SessionDep,
    clock: ClockDep,
    registrant_id: uuid.UUID | None = None,
) -> Response:
    user.principal.require(Permission.read_pdmp)
    found = await overview.registrants(db, user.principal, registrant_id)
    context: dict[str, Any] = {"active": "pdmp", **found.context()}
    if found.chosen is not None and pdmp_view.reports_pdmp(found.chosen):
        context["view"] = await pdmp_view.of(db, user.principal, found.chosen, clock.now())
    context["may_submit"] = user.principal.can(Permission.pdmp_submissions)
    context["outcomes"] = list(PdmpResponseOutcome)
    return page(request, "pdmp.html", user, context)


@router.get("/pdmp/preview")
@audited("report", resource_id="pdmp", kind="report")
async def pdmp_preview(
    request: Request,
    user: SignedIn,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    registrant_id: uuid.UUID,
    day: DayParam,
) -> Response:
    """The day's file as it would be sent (a test file, never issued), and its submission."""
    found = await overview.registrants(db, user.principal, registrant_id)
    shown = await service.preview(db, user.principal, clock.now(), settings, registrant_id, day)
    latest = await pdmp_view.latest_of_day(db, user.principal, registrant_id, day)
    context = {"active": "pdmp", **found.context(), "day": day, "preview": shown,
               "latest": latest,
               "may_submit": user.principal.can(Permission.pdmp_submissions)}  # fmt: skip
    return page(request, "pdmp_preview.html", user, context)


@router.post("/pdmp/submissions", dependencies=[CsrfChecked])
@audited("pdmp_submission")
async def submit_day(
    request: Request, user: SignedIn, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    form = await request.form()
    registrant_id = _uuid(form.get("registrant_id"), "registrant_id")
    day = _day(form.get("date"))
    corrects = form.get("corrects_submission_id") or None
    made = await service.submit_day(
        db, user.principal, clock.now(), settings, registrant_id, day,
        corrects=_uuid(corrects, "corrects_submission_id") if corrects else None, field="date",
    )  # fmt: skip
    return see_other(f"/console/pdmp?registrant_id={registrant_id}#submission-{made.id}")


@router.post("/pdmp/submissions/{submission_id}/responses", dependencies=[CsrfChecked])
@audited("pdmp_submission", "submission_id")
async def record_answer(
    request: Request,
    submission_id: uuid.UUID,
    caller: Acting,
    db: SessionDep,
) -> Response:
    form = await request.form()
    lines = str(form.get("errors") or "").splitlines()
    fields = {
        "outcome": form.get("outcome"),
        "errors": [{"message": line.strip()} for line in lines if line.strip()],
        "state_reference": str(form.get("state_reference") or "").strip() or None,
        "note": str(form.get("note") or "").strip() or None,
    }
    try:
        answer = PdmpResponseCreate.model_validate(fields)
    except ValidationError as invalid:
        errors = field_errors([{**e, "loc": ("body", *e["loc"])} for e in invalid.errors()])
        raise InvalidInput("the state's answer was refused", errors=errors) from None
    found = await submissions.record_response(db, submission_id, answer, caller=caller)
    return see_other(f"/console/pdmp?registrant_id={found.registrant_id}#submission-{found.id}")


def _uuid(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _invalid(name, "not an id") from None


def _day(value: Any) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _invalid("date", "a day is written YYYY-MM-DD") from None


def _invalid(name: str, detail: str) -> InvalidInput:
    return InvalidInput(f"{name}: {detail}", errors=[FieldError(parameter=name, detail=detail)])
