"""PDMP routes: a day's file previewed (nothing kept) or submitted (kept, under a control
number), what the state answered about each submission, and the days still to report."""

import base64
import hashlib
import uuid
from typing import Annotated, Any, cast

from fastapi import Depends, Query, Response, status

from app.auth.permissions import Permission
from app.core.pagination import Page, page_of
from app.core.schemas import Day
from app.edge.audit import audited
from app.edge.deps import (
    ClockDep,
    CurrentCaller,
    CurrentPrincipal,
    Idempotent,
    SessionDep,
    SettingsDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router
from app.registry.models import Registrant
from app.reports.pdmp import outstanding, schemas, service, submissions
from app.reports.pdmp.models import PdmpSubmission
from app.reports.scope import report_scope

ASAP_MEDIA_TYPE = "text/plain; charset=utf-8"
_ASAP_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The ASAP file",
        "content": {
            ASAP_MEDIA_TYPE: {
                "schema": {"type": "string"},
                "example": "TH*4.2A*000000000*01**20260302*090000*T**~\nTT*000000000*14~\n",
            }
        },
    }
}
"""A text answer (not JSON): documented once, with its media type only (the document lists
no plain text answer it never sends)."""
router = api_router(dependencies=[Depends(current_principal)], tags=["pdmp"])

DayParam = Annotated[Day, Query(alias="date", description="The pharmacy's day to report")]


@router.get("/reports/pdmp", response_class=Response, responses=_ASAP_FILE)
@audited("report", resource_id="pdmp", kind="report")
async def preview_pdmp_file(
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
    settings: SettingsDep,
    registrant_id: uuid.UUID,
    day: DayParam,
) -> Response:
    """A preview of the pharmacy's ASAP 4.2A file for the day, in the state's profile (a
    setting): its fills, the fills reversed that day as voids, or a zero report. Nothing is
    kept and no control number is used: the preview is a test file (TH07 `T`) under control
    number 000000000, never issued, so that it is not taken for a file that was sent, nor
    processed as one if it were. `POST /v1/pdmp/submissions` submits the day."""
    found = await service.preview(session, principal, clock.now(), settings, registrant_id, day)
    disposition = f'attachment; filename="{found.filename}"'
    return Response(found.text, media_type=ASAP_MEDIA_TYPE,
                    headers={"Content-Disposition": disposition})  # fmt: skip


@router.post(
    "/pdmp/submissions",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    response_model=schemas.PdmpSubmissionOut,
)
@audited("pdmp_submission")
async def submit_pdmp_file(
    body: schemas.PdmpSubmissionCreate,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
    settings: SettingsDep,
) -> schemas.PdmpSubmissionOut:
    """Submit the pharmacy's file of a day that has ended: made under its next control number
    and kept as it is to be sent (its bytes at `file_url`, with their SHA-256). A day is
    submitted once; once the state rejected its file, the next is the correction of that one
    (`corrects_submission_id`). Pharmacists and compliance officers."""
    made = await service.submit_day(session, principal, clock.now(), settings,
                                    body.registrant_id, body.report_date,
                                    corrects=body.corrects_submission_id,
                                    field="#/report_date")  # fmt: skip
    set_location(response, f"/v1/pdmp/submissions/{made.id}")
    return await service.shown(session, made)


@router.get("/pdmp/submissions", response_model=Page[schemas.PdmpSubmissionOut])
@audited("pdmp_submission")
async def list_pdmp_submissions(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    day: Annotated[Day | None, Query(alias="date", description="Only this day's")] = None,
) -> dict[str, object]:
    """The files submitted, in the order they were made, with the state's responses."""
    statement = submissions.submissions_query(principal, registrant_id, day)
    page = await page_of(session, statement, PdmpSubmission, limit=limit, cursor=cursor)
    items = cast(list[PdmpSubmission], page["items"])
    return page | {"items": await submissions.submissions_out(session, items)}


@router.get("/pdmp/submissions/{submission_id}", response_model=schemas.PdmpSubmissionOut)
@audited("pdmp_submission", "submission_id")
async def get_pdmp_submission(
    submission_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> schemas.PdmpSubmissionOut:
    found = await submissions.get_submission(session, submission_id, principal=principal)
    [shown] = await submissions.submissions_out(session, [found])
    return shown


@router.get(
    "/pdmp/submissions/{submission_id}/file",
    response_class=Response,
    responses=_ASAP_FILE,
)
@audited("pdmp_submission", "submission_id", kind="report")
async def pdmp_submission_file(
    submission_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    """The submitted file, byte for byte; `Repr-Digest` carries the SHA-256 of what is served
    (RFC 9530), to compare with the submission's `content_sha256`."""
    found = await submissions.get_submission(session, submission_id, principal=principal)
    registrant = await session.get(Registrant, found.registrant_id)
    assert registrant is not None
    content = found.content.encode()
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
    return Response(content, media_type=ASAP_MEDIA_TYPE, headers={
        "Content-Disposition":
            f'attachment; filename="{submissions.file_name(found, registrant)}"',
        "X-Control-Number": found.control_number,
        "Repr-Digest": f"sha-256=:{digest}:",
    })  # fmt: skip


@router.post(
    "/pdmp/submissions/{submission_id}/responses",
    dependencies=[Idempotent],
    response_model=schemas.PdmpSubmissionOut,
)
@audited("pdmp_submission", "submission_id")
async def record_pdmp_response(
    submission_id: uuid.UUID,
    body: schemas.PdmpResponseCreate,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.PdmpSubmissionOut:
    """Record what the state answered about a submission: accepted, or rejected with the
    errors it listed. Kept as the submission's history, from which its status follows; an
    accepted submission, or one corrected by another, takes no more. Pharmacists and
    compliance officers."""
    found = await submissions.record_response(session, submission_id, body, caller=caller)
    [shown] = await submissions.submissions_out(session, [found])
    return shown


@router.get("/pdmp/outstanding-days", response_model=schemas.PdmpOutstandingDaysOut)
@audited("pdmp_outstanding_days")
async def pdmp_outstanding_days(
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
    registrant_id: uuid.UUID,
    first_day: Annotated[
        Day | None, Query(alias="from", description="Default: the day of the first fill")
    ] = None,
    last_day: Annotated[Day | None, Query(alias="to", description="Default: yesterday")] = None,
) -> schemas.PdmpOutstandingDaysOut:
    """The pharmacy's days to report that the state has not accepted a file of: each business
    day (weekends and the registrant's holidays aside) and any other day with a fill or a
    reversal of one, since its first fill; each not submitted, awaiting the state's response,
    or rejected (with its latest submission)."""
    scope = await report_scope(session, registrant_id, principal, clock.now(),
                               permission=Permission.read_pdmp)  # fmt: skip
    return await outstanding.outstanding_days(session, scope, first_day, last_day)
