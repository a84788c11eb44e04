"""The days a pharmacy still owes its PDMP: every day to report since it first filled a
prescription (each business day, a zero report when nothing was filled, and any other day it
filled or reversed a fill) of which the state has not accepted a file."""

from collections.abc import Iterator
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.reconciliation.clocks import is_business_day
from app.registry.service import holidays_of
from app.reports.pdmp.day import days_with_fills, ensure_ended, ensure_pharmacy, first_fill_day
from app.reports.pdmp.schemas import (
    PdmpDayStatus,
    PdmpOutstandingDay,
    PdmpOutstandingDaysOut,
    PdmpSubmissionStatus,
)
from app.reports.pdmp.submissions import latest_of_days, statuses
from app.reports.scope import Scope, check_period


async def outstanding_days(
    db: AsyncSession, scope: Scope, first: date | None, last: date | None
) -> PdmpOutstandingDaysOut:
    """The days from ``first`` (by default the first day the pharmacy filled a prescription)
    to ``last`` (by default its yesterday) to report that the state has not accepted."""
    registrant = scope.registrant
    ensure_pharmacy(registrant)
    last = last or scope.local(scope.generated_at).date() - timedelta(days=1)
    ensure_ended(scope, last, field="to")
    first = first or await first_fill_day(db, scope)
    if first is None:  # it never filled a prescription: it owes nothing yet
        return PdmpOutstandingDaysOut(registrant_id=registrant.id, first_day=None, last_day=last,
                                  days=[])  # fmt: skip
    check_period(first, last)
    holidays = holidays_of(registrant)
    business = {day for day in _days(first, last) if is_business_day(day, holidays)}
    to_report = business | await days_with_fills(db, scope, first, last)
    latest = await latest_of_days(db, registrant.id, first, last)
    status = await statuses(db, (s.id for s in latest.values()))
    days = []
    for day in sorted(to_report):
        submitted = latest.get(day)
        if submitted is None:
            days.append(PdmpOutstandingDay(date=day, status=PdmpDayStatus.not_submitted,
                                           submission_id=None))  # fmt: skip
        elif status[submitted.id] is not PdmpSubmissionStatus.accepted:
            where = PdmpDayStatus(status[submitted.id].value)
            days.append(PdmpOutstandingDay(date=day, status=where,
                                           submission_id=submitted.id))  # fmt: skip
    return PdmpOutstandingDaysOut(registrant_id=registrant.id, first_day=first, last_day=last,
                              days=days)  # fmt: skip


def _days(first: date, last: date) -> Iterator[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)
