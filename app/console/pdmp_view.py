"""What the PDMP page shows of a pharmacy, read through the PDMP services: the days the state
has not accepted a file of, and the files submitted with what the state answered."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.registry.enums import RegistrantKind
from app.registry.models import Registrant
from app.reports.pdmp import outstanding, submissions
from app.reports.pdmp.models import PdmpSubmission
from app.reports.pdmp.schemas import PdmpOutstandingDaysOut, PdmpSubmissionOut
from app.reports.scope import report_scope

RECENT = 50
"""Submissions listed, the latest first."""


@dataclass(frozen=True, slots=True)
class PdmpView:
    days: PdmpOutstandingDaysOut
    submissions: list[PdmpSubmissionOut]

    @property
    def by_id(self) -> dict[uuid.UUID, PdmpSubmissionOut]:
        return {s.id: s for s in self.submissions}


def reports_pdmp(registrant: Registrant) -> bool:
    return registrant.kind == RegistrantKind.pharmacy.value


async def of(
    db: AsyncSession, principal: Principal, registrant: Registrant, now: datetime
) -> PdmpView:
    scope = await report_scope(db, registrant.id, principal, now, permission=Permission.read_pdmp)
    days = await outstanding.outstanding_days(db, scope, None, None)
    query = submissions.submissions_query(principal, registrant.id, None)
    recent = list(await db.scalars(
        query.order_by(PdmpSubmission.created_at.desc(), PdmpSubmission.id.desc()).limit(RECENT)
    ))  # fmt: skip
    shown = await submissions.submissions_out(db, recent)
    ids = {s.id for s in shown}
    missing = [d.submission_id for d in days.days if d.submission_id and d.submission_id not in ids]
    for submission_id in missing:  # an old day's latest file, past the recent ones
        found = await submissions.get_submission(db, submission_id, principal=principal)
        shown += await submissions.submissions_out(db, [found])
    return PdmpView(days, shown)


async def latest_of_day(
    db: AsyncSession, principal: Principal, registrant_id: uuid.UUID, day: date
) -> PdmpSubmissionOut | None:
    """The day's latest submission, if it was submitted."""
    query = submissions.submissions_query(principal, registrant_id, day)
    found = await db.scalars(query.order_by(PdmpSubmission.created_at.desc()).limit(1))
    shown = await submissions.submissions_out(db, list(found))
    return shown[0] if shown else None
