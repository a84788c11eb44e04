"""Discrepancies by rule, week by week: how many each rule opened in each of a registrant's
recent weeks (its own Monday to Sunday, on its clock, daylight saving time included).

One query: each discrepancy is put in its week by comparing when it was opened with the weeks'
bounds (instants computed here, so a week that changes clocks still begins at local midnight),
then counted per week and rule in one GROUP BY. It reads the registrant's discrepancies by
(registrant_id, created_at), which an index serves, so a year of them is read in a range.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.reconciliation.models import Discrepancy

WEEKS = 12


@dataclass(frozen=True, slots=True)
class WeekCount:
    week: date
    """The week's Monday, on the registrant's clock."""
    rule: str
    count: int


def mondays(today: date, weeks: int) -> list[date]:
    """The Mondays of the ``weeks`` weeks up to and including ``today``'s, oldest first."""
    this_week = today - timedelta(days=today.weekday())
    return [this_week - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]


def week_bounds(weeks: list[date], timezone: str) -> list[datetime]:
    """The instants the weeks begin, and the one the last ends: local midnights, in UTC."""
    zone = ZoneInfo(timezone)
    days = [*weeks, weeks[-1] + timedelta(weeks=1)]
    return [datetime.combine(day, time.min, zone).astimezone(UTC) for day in days]


async def weekly_by_rule(
    db: AsyncSession,
    principal: Principal,
    registrant_id: uuid.UUID,
    timezone: str,
    today: date,
    weeks: int = WEEKS,
) -> list[WeekCount]:
    """Per week (the ``weeks`` up to ``today``'s) and rule, the discrepancies opened at the
    registrant: (week, rule, count), the weeks in order, a rule within a week by name; a week
    or rule with none has no row."""
    principal.require(Permission.reports)
    principal.ensure_registrant(registrant_id)
    starts = mondays(today, weeks)
    bounds = week_bounds(starts, timezone)
    opened = Discrepancy.created_at
    week = case(*((opened < end, index) for index, end in enumerate(bounds[1:])))
    placed = (
        select(week.label("week"), Discrepancy.rule.label("rule"))
        .where(Discrepancy.registrant_id == registrant_id,
               opened >= bounds[0], opened < bounds[-1])
        .subquery()
    )  # fmt: skip
    rows = await db.execute(
        select(placed.c.week, placed.c.rule, func.count())
        .group_by(placed.c.week, placed.c.rule)
        .order_by(placed.c.week, placed.c.rule)
    )  # fmt: skip
    return [WeekCount(starts[index], rule, count) for index, rule, count in rows]
