"""One page of a place's perpetual inventory: what a person reads on a screen, where the
whole period is thousands of lines (a busy lot moves thousands of times a month).

The database sums the running balance over the whole period, as for the report, and sends
only the page's lines; their names are looked up for those lines alone."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.reports.perpetual import Period, edge, lines, named_lines, places, witnessed
from app.reports.tabular import Row


@dataclass(frozen=True, slots=True)
class Page:
    """The place's opening, the lines from ``offset``, its closing and how many lines the
    period holds (none of them when nothing was there and nothing moved)."""

    opening: Row | None
    lines: list[Row]
    closing: Row | None
    total: int


async def page_of(db: AsyncSession, period: Period, *, offset: int, limit: int) -> Page:
    """``limit`` lines from ``offset`` of the one place the period's filters name (a location
    and a lot)."""
    found = await places(db, period)
    if not found:
        return Page(None, [], None, 0)
    [place] = found
    counted = lines(period, place)
    total = await db.scalar(select(func.count()).select_from(counted).where(counted.c.acted))
    result = await db.execute(named_lines(period, place).offset(offset).limit(limit))
    shown = await witnessed(db, result.mappings().all(), place, period)
    return Page(edge(period, place, closing=False), shown, edge(period, place, closing=True),
                total or 0)  # fmt: skip
