"""The set-based reads a reconciliation run makes: one query per kind of fact, for one
registrant and period, whatever the number of events."""

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Uuid,
    cast,
    func,
    literal,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.catalog.models import Lot
from app.core.db import Quantity, UTCDateTime
from app.ledger.inventories.models import Inventory
from app.ledger.inventories.schemas import InventoryState
from app.ledger.models import Balance, LedgerEvent, Posting
from app.ledger.queries import was_reversed
from app.ledger.schemas import InventoryKind
from app.ledger.types import AdjustDirection, EventType
from app.reconciliation.facts import Adjustment, Count, ExpiredStock, OpenReport
from app.reconciliation.findings import Subject
from app.reconciliation.models import Discrepancy
from app.reconciliation.workflow import CLOSED
from app.registry.models import Registrant

USAGE_DAYS = 30
"""The usage a count's variance is weighed against: what left its place in the 30 days before
it."""


def not_reversed() -> ColumnElement[bool]:
    return ~was_reversed(LedgerEvent.id)


def id_text(value: uuid.UUID | None) -> str | None:
    """A staff member's id as findings hold it."""
    return None if value is None else str(value)


async def counts(
    db: AsyncSession, rid: uuid.UUID, start: datetime, end: datetime, window: timedelta
) -> list[Count]:
    """The period's counts, and those of the pattern window before it, each with the balance
    the ledger expected at its instant and the usage at its location and lot."""
    rows = await db.execute(
        select(LedgerEvent.id, LedgerEvent.location_id, LedgerEvent.product_id,
               LedgerEvent.lot_id, LedgerEvent.occurred_at, LedgerEvent.quantity,
               LedgerEvent.details)
        .where(LedgerEvent.registrant_id == rid, LedgerEvent.type == EventType.count.value,
               LedgerEvent.occurred_at >= start - window, LedgerEvent.occurred_at < end,
               not_reversed())
        .order_by(LedgerEvent.occurred_at)
    )  # fmt: skip
    found = list(rows)
    # Counts before the period only show a pattern: whether they were short, not by how much.
    usage = await _usage_before(db, rid, [row for row in found if row.occurred_at >= start])
    expected = await _expected_at(db, rid, found)
    return [
        Count(
            event_id=row.id,
            location_id=row.location_id,
            product_id=row.product_id,
            lot_id=row.lot_id,
            occurred_at=row.occurred_at,
            counted=row.quantity,
            expected=expected[row.id],
            usage=usage.get(row.id, Decimal(0)),
            in_period=row.occurred_at >= start,
            counted_by=row.details.get("count", {}).get("counted_by"),
        )
        for row in found
    ]


async def adjustments(
    db: AsyncSession, rid: uuid.UUID, start: datetime, end: datetime, window: timedelta
) -> list[Adjustment]:
    """The period's decreases of the book, and those of the pattern window before it."""
    direction = LedgerEvent.details["adjust_direction"].as_string()
    rows = await db.execute(
        select(LedgerEvent.id, LedgerEvent.location_id, LedgerEvent.product_id,
               LedgerEvent.lot_id, LedgerEvent.occurred_at, LedgerEvent.quantity,
               LedgerEvent.performed_by)
        .where(LedgerEvent.registrant_id == rid, LedgerEvent.type == EventType.adjust.value,
               direction == AdjustDirection.decrease.value,
               LedgerEvent.occurred_at >= start - window, LedgerEvent.occurred_at < end,
               not_reversed())
        .order_by(LedgerEvent.occurred_at)
    )  # fmt: skip
    return [
        Adjustment(row.id, row.location_id, row.product_id, row.lot_id, row.occurred_at,
                   row.quantity, id_text(row.performed_by), in_period=row.occurred_at >= start)
        for row in rows
    ]  # fmt: skip


async def _expected_at(db: AsyncSession, rid: uuid.UUID, counts: list[Any]) -> dict[Any, Decimal]:
    """Per count, the balance the ledger expected at its instant: the balance now less what
    moved at its place after it. One pass, in the database, over the postings since the
    earliest count: a running sum from the newest, read where each count falls."""
    if not counts:
        return {}
    places = {(row.location_id, row.lot_id) for row in counts}
    locations, lots = {location for location, _ in places}, {lot for _, lot in places}
    at_places = (Posting.location_id.in_(locations), Posting.lot_id.in_(lots))
    marks = union_all(
        select(Posting.location_id, Posting.lot_id, Posting.occurred_at, Posting.delta,
               cast(null(), Uuid()).label("count_id"), literal(0).label("is_count"))
        .where(Posting.registrant_id == rid, *at_places,
               Posting.occurred_at > min(row.occurred_at for row in counts)),
        select(LedgerEvent.location_id, LedgerEvent.lot_id, LedgerEvent.occurred_at,
               literal(0), LedgerEvent.id, literal(1))
        .where(LedgerEvent.id.in_([row.id for row in counts])),
    ).subquery()  # fmt: skip
    # Newest first; at one instant the count before the postings, which are not after it.
    after = func.sum(marks.c.delta).over(
        partition_by=(marks.c.location_id, marks.c.lot_id),
        order_by=(marks.c.occurred_at.desc(), marks.c.is_count.desc()),
        rows=(None, 0),
    )
    running = select(marks.c.count_id, type_coerce(after, Quantity()).label("after")).subquery()
    moved_after = dict(
        (count_id, quantity) for count_id, quantity in await db.execute(
            select(running.c.count_id, running.c.after).where(running.c.count_id.is_not(None))
        )
    )  # fmt: skip
    balances = {
        (location, lot): quantity for location, lot, quantity in await db.execute(
            select(Balance.location_id, Balance.lot_id, Balance.quantity)
            .where(Balance.registrant_id == rid, Balance.location_id.in_(locations),
                   Balance.lot_id.in_(lots))
        )
    }  # fmt: skip
    return {
        row.id: balances.get((row.location_id, row.lot_id), Decimal(0))
        - (moved_after.get(row.id) or Decimal(0))
        for row in counts
    }


_COUNTS_PER_STATEMENT = 200
"""Counts whose usage one statement reads: two marks each, within SQLite's 500 compound
SELECTs."""
_BEFORE_WINDOW, _OUTFLOW, _AT_COUNT = 0, 1, 2
"""At one instant: the mark of a window's start sorts before the outflows (an outflow at the
start is in the window), the mark at a count after them (one at the count's instant is too)."""


async def _usage_before(db: AsyncSession, rid: uuid.UUID, counts: list[Any]) -> dict[Any, Decimal]:
    """Per count, what left its location and lot in the 30 days before it."""
    usage: dict[Any, Decimal] = {}
    for first in range(0, len(counts), _COUNTS_PER_STATEMENT):
        usage |= await _usage_of(db, rid, counts[first : first + _COUNTS_PER_STATEMENT])
    return usage


async def _usage_of(db: AsyncSession, rid: uuid.UUID, counts: list[Any]) -> dict[Any, Decimal]:
    """One pass over the outflows from 30 days before the earliest count to the latest: a
    running total per place, read at each count and 30 days before it (usage is the
    difference). Overlapping windows are not summed again for every count."""
    window = timedelta(days=USAGE_DAYS)
    places = {(row.location_id, row.lot_id) for row in counts}
    outflows = select(
        Posting.location_id, Posting.lot_id, Posting.occurred_at, (-Posting.delta).label("taken"),
        cast(null(), Uuid()).label("count_id"), literal(_OUTFLOW).label("tie"),
    ).where(
        Posting.registrant_id == rid, Posting.delta < 0,
        Posting.location_id.in_({location for location, _ in places}),
        Posting.lot_id.in_({lot for _, lot in places}),
        Posting.occurred_at >= min(row.occurred_at for row in counts) - window,
        Posting.occurred_at <= max(row.occurred_at for row in counts),
    )  # fmt: skip
    marks = [
        select(literal(row.location_id, Uuid()), literal(row.lot_id, Uuid()),
               literal(instant, UTCDateTime()), literal(0), literal(row.id, Uuid()),
               literal(tie))
        for row in counts
        for instant, tie in ((row.occurred_at - window, _BEFORE_WINDOW),
                             (row.occurred_at, _AT_COUNT))
    ]  # fmt: skip
    union = union_all(outflows, *marks).subquery()
    taken_so_far = func.sum(union.c.taken).over(
        partition_by=(union.c.location_id, union.c.lot_id),
        order_by=(union.c.occurred_at, union.c.tie),
        rows=(None, 0),
    )
    running = select(union.c.count_id, union.c.tie,
                     type_coerce(taken_so_far, Quantity()).label("taken")).subquery()  # fmt: skip
    read = await db.execute(
        select(running.c.count_id, running.c.tie, running.c.taken)
        .where(running.c.count_id.is_not(None))
    )  # fmt: skip
    totals = {(count_id, tie): taken or Decimal(0) for count_id, tie, taken in read}
    return {
        row.id: totals[(row.id, _AT_COUNT)] - totals[(row.id, _BEFORE_WINDOW)] for row in counts
    }


async def expired_stock(db: AsyncSession, rid: uuid.UUID, today: date) -> list[ExpiredStock]:
    rows = await db.execute(
        select(Balance.location_id, Balance.lot_id, Balance.product_id, Lot.lot_number,
               Lot.expires_on, Balance.quantity)
        .join(Lot, Lot.id == Balance.lot_id)
        .where(Balance.registrant_id == rid, Balance.quantity > 0, Lot.expires_on < today)
    )  # fmt: skip
    return [ExpiredStock(*row) for row in rows]


async def inventory_dates(
    db: AsyncSession, registrant: Registrant
) -> tuple[date | None, date | None]:
    """The registrant's first day of activity, and the day of its last full (initial or
    biennial) inventory, on its own days: its last count of one, or its last signed, which
    counts though it found nothing to count (a zero inventory, 21 CFR 1304.11(b))."""
    zone = ZoneInfo(registrant.timezone)
    count = aliased(LedgerEvent)
    full = [InventoryKind.initial.value, InventoryKind.biennial.value]
    kind = count.details["count"]["inventory_kind"].as_string()
    last_inventory = (
        select(func.max(count.occurred_at))
        .where(count.registrant_id == registrant.id, count.type == EventType.count.value,
               kind.in_(full), ~was_reversed(count.id))  # a count reversed was never taken
        .scalar_subquery()
    )  # fmt: skip
    last_signed = (
        select(func.max(Inventory.as_of))
        .where(Inventory.registrant_id == registrant.id, Inventory.kind.in_(full),
               Inventory.state == InventoryState.signed.value)
        .scalar_subquery()
    )  # fmt: skip
    first, last, signed = (
        await db.execute(
            select(func.min(LedgerEvent.occurred_at), last_inventory, last_signed)
            .where(LedgerEvent.registrant_id == registrant.id)
        )
    ).one()  # fmt: skip

    def day(instant: datetime | None) -> date | None:
        return None if instant is None else instant.astimezone(zone).date()

    return day(first), max((d for d in (day(last), day(signed)) if d), default=None)


async def open_reports(db: AsyncSession, rid: uuid.UUID) -> list[OpenReport]:
    """The registrant's reportable discrepancies still owing the DEA a report: neither
    reported nor resolved (a loss the compliance officer found to be no significant loss,
    a count that was miscounted, owes none)."""
    rows = await db.scalars(
        select(Discrepancy).where(
            Discrepancy.registrant_id == rid,
            Discrepancy.reportable.is_(True),
            Discrepancy.status.not_in([status.value for status in CLOSED]),
            Discrepancy.notice_due_on.is_not(None),
        )
    )
    return [
        OpenReport(
            d.id,
            d.notice_due_on,
            d.notice_given_on is not None,
            d.form_106_due_on,
            tuple(d.staff_ids),
            summary=d.summary,
            discovered_at=d.discovered_at,
            subject=Subject(
                location_id=d.location_id,
                lot_id=d.lot_id,
                product_id=d.product_id,
                patient_id=d.patient_id,
                session_id=d.session_id,
            ),
            event_ids=tuple(uuid.UUID(e) for e in d.event_ids),
        )
        for d in rows
        if d.notice_due_on is not None and d.form_106_due_on is not None
    ]
