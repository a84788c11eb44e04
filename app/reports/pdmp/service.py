"""What the API's PDMP routes and the console's PDMP page do alike: preview a day's file,
submit it, list a pharmacy's submissions. One composition, so both edges check the same
permissions and refuse the same days."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.core.config import Settings
from app.reports.pdmp import submissions
from app.reports.pdmp.day import day_report
from app.reports.pdmp.models import PdmpSubmission
from app.reports.pdmp.schemas import PdmpSubmissionOut
from app.reports.pdmp.submissions import Author
from app.reports.scope import report_scope


@dataclass(frozen=True, slots=True)
class Preview:
    """A day's file as a test file (never issued): its text and the name it downloads as."""

    filename: str
    text: str


async def preview(
    db: AsyncSession,
    principal: Principal,
    now: datetime,
    settings: Settings,
    registrant_id: uuid.UUID,
    day: date,
    *,
    field: str = "date",
) -> Preview:
    """The pharmacy's file of ``day`` as a preview; ``field`` names where the day was given
    (a refused day is pointed at there)."""
    scope = await report_scope(db, registrant_id, principal, now, permission=Permission.read_pdmp)
    report = await day_report(db, scope, day, settings, field=field)
    filename = f"pdmp-{scope.registrant.dea_number}-{day:%Y%m%d}-preview.txt"
    return Preview(filename, report.preview())


async def submit_day(
    db: AsyncSession,
    principal: Principal,
    now: datetime,
    settings: Settings,
    registrant_id: uuid.UUID,
    day: date,
    *,
    corrects: uuid.UUID | None,
    field: str,
) -> PdmpSubmission:
    """The pharmacy's file of ``day`` submitted: its first, or the correction of ``corrects``."""
    scope = await report_scope(db, registrant_id, principal, now,
                               permission=Permission.pdmp_submissions)  # fmt: skip
    report = await day_report(db, scope, day, settings, field=field)
    return await submissions.submit(db, report, corrects=corrects, by=Author.of(principal))


async def shown(db: AsyncSession, submission: PdmpSubmission) -> PdmpSubmissionOut:
    """One submission as the API shows it."""
    [out] = await submissions.submissions_out(db, [submission])
    return out
