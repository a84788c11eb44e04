"""One page of a place's perpetual inventory: what a person reads on a screen, where the
whole period is thousands of lines (a busy lot moves thousands of times a month).

Nothing here is summed over more than the page needs. The place's balances come from the
balance kept with each append, less what moved since (not from every posting of the years
before); the page's first line is found by its instant in the postings' index; and the running
balance is summed from that instant, for the page's lines alone, by the report's own query
(:func:`app.reports.perpetual.lines`)."""

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, ColumnElement, func, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Lot, Product
from app.core.quantity import to_minor
from app.ledger.models import Balance, LedgerEvent, Posting
from app.registry.models import Location
from app.reports.perpetual import COUNT, Period, Place, described, edge, named_lines, witnessed
from app.reports.tabular import Row

_TICK = timedelta(microseconds=1)
"""The finest step between two instants: the first instant after another."""
Where = list[ColumnElement[bool]]


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
    and a lot), in the report's order, each with the balance after it."""
    place = await place_of(db, period)
    if place is None:
        return Page(None, [], None, 0)
    total = await _lines_before(db, period, period.end)
    instants = await _instants(db, period, offset=offset, limit=limit)
    shown: list[Row] = []
    if instants:
        # The page's lines, and those sharing its first instant that an earlier page shows
        # (skipped), summed from the balance just before that instant.
        first, last = instants[0], instants[-1]
        before = await _lines_before(db, period, first)
        page = dataclasses.replace(period, start=first, end=last + _TICK)
        opening = place.opening + await _moved(db, period, period.start, first)
        query = named_lines(page, dataclasses.replace(place, opening=opening))
        result = await db.execute(query.offset(offset - before).limit(limit))
        shown = await witnessed(db, result.mappings().all(), place, period)
    return Page(edge(period, place, closing=False), shown, edge(period, place, closing=True),
                total)  # fmt: skip


async def place_of(db: AsyncSession, period: Period) -> Place | None:
    """The place with its balances at the period's start and end: the balance now, less what
    moved from each instant on (the place is shown when it held stock then, or anything
    moved or was counted in the period)."""
    location_id, lot_id = period.filters.location_id, period.filters.lot_id
    if location_id is None or lot_id is None:
        raise ValueError("a page is of one place: a location and a lot")
    held = await db.scalar(select(Balance.quantity).where(
        Balance.location_id == location_id, Balance.lot_id == lot_id))  # fmt: skip
    now = to_minor(held) if held is not None else 0
    closing = now - await _moved(db, period, period.end, None)
    opening = closing - await _moved(db, period, period.start, period.end)
    if opening == 0 and await _lines_before(db, period, period.end) == 0:
        return None
    found = (await db.execute(
        select(Location.name.label("location"), Lot.lot_number, Lot.expires_on, Product)
        .select_from(Lot).join(Product, Product.id == Lot.product_id)
        .join(Location, Location.id == location_id).where(Lot.id == lot_id)
    )).one()  # fmt: skip
    return described(location_id, lot_id, opening, closing, found)


def _postings(period: Period, since: datetime, until: datetime | None) -> Where:
    """The place's postings from ``since`` up to ``until`` (on, if None)."""
    P, filters = Posting, period.filters
    found = [P.location_id == filters.location_id, P.lot_id == filters.lot_id,
             P.occurred_at >= since]  # fmt: skip
    return found if until is None else [*found, P.occurred_at < until]


def _counts(period: Period, until: datetime) -> Where:
    """The period's counts at the place up to ``until``."""
    E, filters = LedgerEvent, period.filters
    return [E.registrant_id == period.registrant_id, E.type == COUNT,
            E.location_id == filters.location_id, E.lot_id == filters.lot_id,
            E.occurred_at >= period.start, E.occurred_at < until]  # fmt: skip


async def _moved(db: AsyncSession, period: Period, since: datetime, until: datetime | None) -> int:
    """The place's postings from ``since`` up to ``until`` (on, if None), summed."""
    delta = type_coerce(Posting.delta, BigInteger)
    statement = select(func.coalesce(func.sum(delta), 0)).where(*_postings(period, since, until))
    return int(await db.scalar(statement) or 0)


async def _lines_before(db: AsyncSession, period: Period, until: datetime) -> int:
    """How many of the period's lines (postings at the place, and counts there) come before
    ``until``."""
    moved = select(func.count()).where(*_postings(period, period.start, until))
    counted = select(func.count()).where(*_counts(period, until))
    return int(await db.scalar(moved) or 0) + int(await db.scalar(counted) or 0)


async def _instants(db: AsyncSession, period: Period, *, offset: int, limit: int) -> list[datetime]:
    """The instants of the page's lines, in order (the postings' index answers)."""
    lines = union_all(
        select(Posting.occurred_at.label("at")).where(*_postings(period, period.start,
                                                                 period.end)),
        select(LedgerEvent.occurred_at.label("at")).where(*_counts(period, period.end)),
    ).subquery()  # fmt: skip
    return list(await db.scalars(select(lines.c.at).order_by(lines.c.at).offset(offset)
                                 .limit(limit)))  # fmt: skip
