"""PDMP submissions: a day's file kept as sent under the pharmacy's next control number, what
the state answered about it, and the corrections of the files it rejected.

A day's submissions form one chain: the first, then, once the state has rejected it, a
correction naming it, and so on until one is accepted. So a day is never sent twice but as the
correction of a rejected file, and nothing is sent about a day whose file awaits the state's
response or was accepted.
"""

import getpass
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NoReturn

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.core.config import Settings
from app.core.errors import AppError, FieldError, InvalidInput, Member, NotFound
from app.registry.models import Registrant
from app.registry.service import find_registrant
from app.reports.pdmp.day import DayReport, day_report
from app.reports.pdmp.models import PdmpResponse, PdmpSubmission
from app.reports.pdmp.schemas import (
    PdmpResponseCreate,
    PdmpResponseOut,
    PdmpResponseOutcome,
    PdmpSubmissionOut,
    PdmpSubmissionStatus,
)
from app.reports.scope import Scope


class DayAlreadySubmitted(AppError):
    slug = "pdmp-day-already-submitted"
    status = 409
    title = "Day already submitted"
    description = (
        "The day has a submission awaiting the state's response, or accepted; once the state "
        "rejects a day's file, the next is its correction (`corrects_submission_id`). "
        "`submission_id` names the day's latest submission."
    )
    members = {
        "submission_id": Member("string", "PDMP: the day's latest submission."),
        "submission_status": Member("string", "PDMP: where that submission stands."),
    }


class NotCorrectable(AppError):
    slug = "pdmp-not-correctable"
    status = 409
    title = "Not a submission to correct"
    description = "A correction names the latest submission of its day, once the state rejected it."


class SubmissionClosed(AppError):
    slug = "pdmp-submission-closed"
    status = 409
    title = "Submission closed"
    description = (
        "The state accepted this submission, or it was corrected by another: responses are "
        "recorded against the day's latest submission until one is accepted."
    )
    members = {
        "corrected_by_submission_id": Member(
            "string", "PDMP: the submission that corrected this one."
        ),
    }


@dataclass(frozen=True, slots=True)
class Author:
    """Who submits or records: a token's subject and name (or the command and its user)."""

    subject: str
    name: str | None

    @classmethod
    def of(cls, principal: Principal) -> "Author":
        return cls(principal.subject, principal.name)

    @classmethod
    def of_command(cls, command: str) -> "Author":
        """The command, and who ran it as far as the machine knows (kept as the name)."""
        try:
            user: str | None = getpass.getuser()
        except (KeyError, OSError):  # no user name in the environment nor the password database
            user = None
        return cls(command, user)


def status_of(outcomes: Iterable[str]) -> PdmpSubmissionStatus:
    """A submission is accepted once the state accepted it, rejected while it has only
    rejected it, and awaits a response until then."""
    seen = set(outcomes)
    if PdmpResponseOutcome.accepted in seen:
        return PdmpSubmissionStatus.accepted
    return (
        PdmpSubmissionStatus.rejected
        if PdmpResponseOutcome.rejected in seen
        else PdmpSubmissionStatus.awaiting_response
    )


# Submitting


async def submit(
    db: AsyncSession, report: DayReport, *, corrects: uuid.UUID | None, by: Author
) -> PdmpSubmission:
    """The day's file kept as a submission under the registrant's next control number: the
    day's first, or the correction of its latest, which the state rejected."""
    registrant_id = report.scope.registrant.id
    await _one_writer_at(db, registrant_id)
    latest = (await latest_of_days(db, registrant_id, report.day, report.day)).get(report.day)
    if corrects is None:
        await _ensure_first(db, latest)
    else:
        await _ensure_correctable(db, report, latest, corrects)
    control = await _next_control_number(db, registrant_id)
    content = report.file(control)
    submission = PdmpSubmission(
        id=uuid.uuid4(), registrant_id=registrant_id, report_date=report.day,
        control_number=control, dispenses=report.new_count, voids=report.void_count,
        content=content,
        content_sha256=hashlib.sha256(content.encode()).hexdigest(),
        detail_sha256=report.detail_sha256, corrects_submission_id=corrects,
        created_by=by.subject, created_by_name=by.name, created_at=report.scope.generated_at,
    )  # fmt: skip
    db.add(submission)
    await db.flush()
    return submission


async def day_file(
    db: AsyncSession,
    registrant_id: uuid.UUID,
    day: date,
    settings: Settings,
    now: datetime,
    *,
    submit_as: Author | None,
    corrects: uuid.UUID | None,
    field: str,
) -> tuple[str, PdmpSubmission | None]:
    """A pharmacy's day outside a request (``csledger pdmp``): its preview, nothing kept (a test
    file under control number 000000000), or with ``submit_as`` its file submitted (and the
    submission), kept as the API keeps it. ``field`` names where the day was given."""
    scope = Scope(await find_registrant(db, registrant_id), now)
    reported = await day_report(db, scope, day, settings, field=field)
    if submit_as is None:
        return reported.preview(), None
    made = await submit(db, reported, corrects=corrects, by=submit_as)
    return made.content, made


async def _one_writer_at(db: AsyncSession, registrant_id: uuid.UUID) -> None:
    """Hold the registrant's row until the transaction ends, so that two files never share a
    control number, a day's chain never forks and a submission is accepted once (the unique
    constraints behind these answer 409 should this be forgotten). Ledger writes, which only
    share the row's key, go on meanwhile. The registrant's row stands for its PDMP files: the
    service may neither lock nor update an append-only table's rows."""
    await db.execute(select(Registrant.id).where(Registrant.id == registrant_id)
                     .with_for_update(key_share=True))  # fmt: skip


async def latest_of_days(
    db: AsyncSession, registrant_id: uuid.UUID, first: date, last: date
) -> dict[date, PdmpSubmission]:
    """The end of each day's chain from ``first`` to ``last``: its submission that no other
    corrects (the newest, should a day hold several kept before corrections were linked)."""
    corrected = select(PdmpSubmission.corrects_submission_id).where(
        PdmpSubmission.registrant_id == registrant_id,
        PdmpSubmission.corrects_submission_id.is_not(None),
    )
    ends = await db.scalars(
        select(PdmpSubmission)
        .where(PdmpSubmission.registrant_id == registrant_id,
               PdmpSubmission.report_date >= first, PdmpSubmission.report_date <= last,
               PdmpSubmission.id.not_in(corrected))
        .order_by(PdmpSubmission.created_at, PdmpSubmission.control_number)
    )  # fmt: skip
    return {end.report_date: end for end in ends}


async def statuses(
    db: AsyncSession, submission_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PdmpSubmissionStatus]:
    """Each submission's status, from the state's responses to it."""
    outcomes: dict[uuid.UUID, list[str]] = {i: [] for i in submission_ids}
    for submission_id, outcome in await db.execute(
        select(PdmpResponse.submission_id, PdmpResponse.outcome)
        .where(PdmpResponse.submission_id.in_(outcomes))
    ):  # fmt: skip
        outcomes[submission_id].append(outcome)
    return {i: status_of(found) for i, found in outcomes.items()}


async def _ensure_first(db: AsyncSession, latest: PdmpSubmission | None) -> None:
    if latest is None:
        return
    status = await _status(db, latest.id)
    remedy = {
        PdmpSubmissionStatus.awaiting_response: "it awaits the state's response; record the "
        "response first",
        PdmpSubmissionStatus.accepted: "the state accepted it",
        PdmpSubmissionStatus.rejected: "the state rejected it: send its correction, naming it "
        "in corrects_submission_id",
    }[status]
    raise DayAlreadySubmitted(
        f"{latest.report_date} was submitted under control number {latest.control_number}: "
        f"{remedy}",
        extra={"submission_id": str(latest.id), "submission_status": status.value},
    )


async def _ensure_correctable(
    db: AsyncSession, report: DayReport, latest: PdmpSubmission | None, corrects: uuid.UUID
) -> None:
    corrected = await db.get(PdmpSubmission, corrects)
    if corrected is None or corrected.registrant_id != report.scope.registrant.id:
        raise NotFound("no such submission of this registrant", errors=[
            FieldError(pointer="#/corrects_submission_id", detail="not found")])  # fmt: skip
    if corrected.report_date != report.day:
        _not_correctable(f"submission {corrects} is of {corrected.report_date}, not {report.day}")
    if latest is None or corrected.id != latest.id:
        _not_correctable(f"submission {corrects} is not the latest of {report.day}")
    status = await _status(db, corrected.id)
    if status is not PdmpSubmissionStatus.rejected:
        _not_correctable(f"submission {corrects} is {status.value.replace('_', ' ')}, "
                         "not rejected")  # fmt: skip


def _not_correctable(detail: str) -> NoReturn:
    raise NotCorrectable(detail, errors=[FieldError(pointer="#/corrects_submission_id",
                                                    detail=detail)])  # fmt: skip


async def _next_control_number(db: AsyncSession, registrant_id: uuid.UUID) -> str:
    made = await db.scalar(
        select(func.count()).where(PdmpSubmission.registrant_id == registrant_id)
    )
    return f"{(made or 0) + 1:09d}"


# The state's responses


async def record_response(
    db: AsyncSession,
    submission_id: uuid.UUID,
    data: PdmpResponseCreate,
    caller: Caller,
) -> PdmpSubmission:
    """What the state answered about a submission, added to its history."""
    submission = await get_submission(db, submission_id, principal=caller.principal)
    caller.principal.require(Permission.pdmp_submissions)
    _check_response(
        data, submission, caller.now + timedelta(seconds=caller.settings.future_skew_seconds)
    )
    await _one_writer_at(db, submission.registrant_id)
    history = await _outcomes(db, submission.id)
    await _ensure_open(db, submission, status_of(history))
    db.add(PdmpResponse(
        id=uuid.uuid4(), registrant_id=submission.registrant_id, submission_id=submission.id,
        number=len(history) + 1, outcome=data.outcome.value,
        errors=[error.model_dump(exclude_none=True) for error in data.errors],
        received_at=data.received_at or caller.now, state_reference=data.state_reference,
        note=data.note, recorded_by=caller.principal.subject,
        recorded_by_name=caller.principal.name,
        created_at=caller.now,
    ))  # fmt: skip
    await db.flush()
    return submission


def _check_response(data: PdmpResponseCreate, submission: PdmpSubmission, latest: datetime) -> None:
    if data.outcome is PdmpResponseOutcome.rejected and not data.errors:
        raise InvalidInput.at("#/errors", "a rejection lists the state's errors")
    if data.outcome is PdmpResponseOutcome.accepted and data.errors:
        raise InvalidInput.at("#/errors", "an acceptance carries no errors")
    if data.received_at is None:
        return
    if data.received_at < submission.created_at:
        raise InvalidInput.at("#/received_at", "before the file was submitted")
    if data.received_at > latest:
        raise InvalidInput.at("#/received_at", "in the future")


async def _ensure_open(
    db: AsyncSession, submission: PdmpSubmission, status: PdmpSubmissionStatus
) -> None:
    if status is PdmpSubmissionStatus.accepted:
        raise SubmissionClosed(f"the state accepted submission {submission.id}")
    correction = await _correction_of(db, submission.id)
    if correction is not None:
        raise SubmissionClosed(
            f"submission {submission.id} was corrected by {correction}: record the state's "
            "response against that one",
            extra={"corrected_by_submission_id": str(correction)},
        )


# Reading


async def get_submission(
    db: AsyncSession, submission_id: uuid.UUID, *, principal: Principal
) -> PdmpSubmission:
    found = await get_readable(db, PdmpSubmission, submission_id, principal, what="submission")
    principal.require(Permission.read_pdmp)
    return found


def submissions_query(
    principal: Principal, registrant_id: uuid.UUID | None, day: date | None
) -> Select[PdmpSubmission]:
    principal.require(Permission.read_pdmp)
    statement = within_registrants(
        select(PdmpSubmission), PdmpSubmission.registrant_id, principal, registrant_id
    )
    if day is not None:
        statement = statement.where(PdmpSubmission.report_date == day)
    return statement


async def submissions_out(
    db: AsyncSession, submissions: Sequence[PdmpSubmission]
) -> list[PdmpSubmissionOut]:
    """The submissions as the API shows them: each with its responses, its status and the
    submission that corrected it (three queries, whatever their number)."""
    ids = [s.id for s in submissions]
    responses: dict[uuid.UUID, list[PdmpResponse]] = {i: [] for i in ids}
    for response in await db.scalars(
        select(PdmpResponse).where(PdmpResponse.submission_id.in_(ids))
        .order_by(PdmpResponse.submission_id, PdmpResponse.number)
    ):  # fmt: skip
        responses[response.submission_id].append(response)
    corrections: dict[uuid.UUID | None, uuid.UUID] = {
        corrected: correction for corrected, correction in await db.execute(
            select(PdmpSubmission.corrects_submission_id, PdmpSubmission.id)
            .where(PdmpSubmission.corrects_submission_id.in_(ids))
        )
    }  # fmt: skip
    return [_out(s, responses[s.id], corrections.get(s.id)) for s in submissions]


def file_name(submission: PdmpSubmission, registrant: Registrant) -> str:
    """The name a downloaded file is given: the pharmacy, the day and the control number."""
    day, control = submission.report_date, submission.control_number
    return f"pdmp-{registrant.dea_number}-{day:%Y%m%d}-{control}.txt"


def _out(
    submission: PdmpSubmission, responses: list[PdmpResponse], corrected_by: uuid.UUID | None
) -> PdmpSubmissionOut:
    return PdmpSubmissionOut(
        id=submission.id, registrant_id=submission.registrant_id,
        report_date=submission.report_date, control_number=submission.control_number,
        status=status_of(r.outcome for r in responses), dispenses=submission.dispenses,
        voids=submission.voids, file_url=f"/v1/pdmp/submissions/{submission.id}/file",
        content_sha256=submission.content_sha256,
        corrects_submission_id=submission.corrects_submission_id,
        corrected_by_submission_id=corrected_by,
        responses=[PdmpResponseOut.model_validate(r) for r in responses],
        created_by=submission.created_by, created_by_name=submission.created_by_name,
        created_at=submission.created_at,
    )  # fmt: skip


async def _status(db: AsyncSession, submission_id: uuid.UUID) -> PdmpSubmissionStatus:
    return status_of(await _outcomes(db, submission_id))


async def _outcomes(db: AsyncSession, submission_id: uuid.UUID) -> list[str]:
    """The state's responses to a submission, in order."""
    return list(await db.scalars(
        select(PdmpResponse.outcome).where(PdmpResponse.submission_id == submission_id)
        .order_by(PdmpResponse.number)
    ))  # fmt: skip


async def _correction_of(db: AsyncSession, submission_id: uuid.UUID) -> uuid.UUID | None:
    return await db.scalar(
        select(PdmpSubmission.id).where(PdmpSubmission.corrects_submission_id == submission_id)
    )
