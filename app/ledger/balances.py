"""Balances: changed with every posting by a conditional update, and computed as of any instant.

A removal is ``UPDATE ... SET quantity = quantity - q WHERE ... AND quantity >= q``: of two
concurrent writers that would together take a balance below zero, one updates no row and is
refused, without either reading the balance first. On PostgreSQL a single append sends these
updates inside the statement that writes its event (:class:`DeferredBook`); on SQLite each
is sent when applied (:class:`ConditionalBook`). A batch locks the rows it touches once
instead, and changes them in memory (:class:`HeldBook`).

Every writer locks its registrant's chain head before any balance row of that registrant (a
balance row belongs to one registrant), so two writers never wait on each other's rows in
opposite orders.
"""

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from sqlalchemy import TextClause, Uuid, bindparam, func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Lot, Product
from app.core.bulk import Part
from app.core.db import Database, Quantity, dialect_insert, dialect_name, table_of, where_given
from app.core.errors import Conflict, Member
from app.core.quantity import format_quantity, to_minor
from app.ledger.models import Balance, Posting
from app.registry.models import Location


class InsufficientStock(Conflict):
    slug = "insufficient-stock"
    title = "Insufficient stock"
    description = (
        "The movement would take a balance below zero; record the missing receipt first. "
        "Names the lot (`lot_id`, `lot_number`) and the place (`location_id`, "
        "`location_name`), with what was `on_hand` and what was `requested`."
    )
    members = {
        "lot_id": Member("string", "Insufficient stock: the lot."),
        "lot_number": Member("string", "Insufficient stock: the lot's number."),
        "location_id": Member("string", "Insufficient stock: the location."),
        "location_name": Member("string", "Insufficient stock: the location's name."),
        "on_hand": Member("string", "Insufficient stock: what was there, a decimal string."),
        "requested": Member("string", "Insufficient stock: what was asked, a decimal string."),
        "unit": Member("string", "Insufficient stock: the product's inventory unit."),
    }

    def __init__(self, change: "Change") -> None:
        self.change = change
        self.requested = format_quantity(-change.delta)
        self.plain = (
            f"not enough of lot {change.lot_id} at location {change.location_id} "
            f"to take {self.requested}"
        )
        super().__init__(self.plain, extra={
            "lot_id": str(change.lot_id), "location_id": str(change.location_id),
            "requested": self.requested,
        })  # fmt: skip

    async def explained(self, database: Database) -> None:
        """The lot's number, the place's name, the unit and what was on hand (read once the
        refused work was rolled back: the balance every other writer saw)."""
        change = self.change
        statement = (
            select(Lot.lot_number, Location.name, Product.inventory_unit, Balance.quantity)
            .select_from(Lot)
            .join(Product, Product.id == Lot.product_id)
            .join(Location, Location.id == change.location_id)
            .outerjoin(
                Balance, (Balance.lot_id == Lot.id) & (Balance.location_id == change.location_id)
            )
            .where(Lot.id == change.lot_id)
        )
        async with database.session(write=False) as session:
            found = (await session.execute(statement)).first()
        if found is None:
            return
        lot_number, place, unit, balance = found
        on_hand = format_quantity(balance or Decimal(0))
        named = (f"not enough of lot {lot_number} at {place}: {on_hand} {unit} on hand, "
                 f"{self.requested} {unit} requested")  # fmt: skip
        self.detail = self.detail.replace(self.plain, named)
        self.extra |= {"lot_number": lot_number, "location_name": place, "on_hand": on_hand,
                       "unit": unit}  # fmt: skip


_ADD_TO = (
    update(table_of(Balance))
    .where(
        Balance.location_id == bindparam("add_location_id"),
        Balance.lot_id == bindparam("add_lot_id"),
    )
    .values(quantity=Balance.quantity + bindparam("delta", type_=Quantity()))
)

Key = tuple[uuid.UUID, uuid.UUID]
"""(location, lot): one balance row."""


@dataclass(frozen=True, slots=True)
class Change:
    """A signed change to the balance of one (location, lot)."""

    registrant_id: uuid.UUID
    location_id: uuid.UUID
    lot_id: uuid.UUID
    product_id: uuid.UUID
    delta: Decimal

    @property
    def key(self) -> Key:
        return self.location_id, self.lot_id


def lock_order(key: Key) -> tuple[int, int]:
    """The one global order in which balance rows are locked (PostgreSQL sorts uuids alike), so
    two writers touching the same rows never deadlock."""
    return key[0].int, key[1].int


def _insufficient(change: Change) -> "InsufficientStock":
    return InsufficientStock(change)


class Book(Protocol):
    """How an append changes balances: refuse a removal below zero, write the rest."""

    async def apply(self, changes: list[Change]) -> None: ...

    async def store(self) -> list[Part]:
        """Write what is pending, or return it as parts to send with the events' writes."""
        ...


class ConditionalBook:
    """One append on SQLite: each change's statement (the parts :class:`DeferredBook` sends
    on PostgreSQL) sent at once, a removal refused as soon as it finds too little."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def apply(self, changes: list[Change]) -> None:
        ordered = sorted(changes, key=lambda c: lock_order(c.key))
        for n, change in enumerate(c for c in ordered if c.delta != 0):
            part = _part(change, n)
            result = await self._session.execute(_typed(part.sql), part.parameters)
            if part.check is not None:
                part.check(len(result.all()))

    async def store(self) -> list[Part]:
        """Nothing is pending: every change was written when applied."""
        return []


class DeferredBook:
    """One append on PostgreSQL: each change a conditional update sent as a part of the
    statement that writes the event; a removal that finds too little refuses it then. The
    statement's other writes are undone with the transaction, which an error rolls back
    (the unit of work's rule: nothing catches a refused append and commits)."""

    def __init__(self) -> None:
        self._pending: list[Change] = []

    async def apply(self, changes: list[Change]) -> None:
        self._pending.extend(change for change in changes if change.delta != 0)

    async def store(self) -> list[Part]:
        parts = [_part(change, n) for n, change in enumerate(self._pending)]
        self._pending = []
        return parts


class HeldBook:
    """Many appends in one transaction: the rows they touch are locked once (``hold``), changed
    in memory in order, refused exactly when a conditional update would be, and written once.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._quantity: dict[Key, Decimal] = {}
        """Each held row's quantity now."""
        self._pending: dict[Key, Change] = {}
        """Per row, the net change not yet written."""

    async def hold(self, changes: Iterable[Change]) -> None:
        """Lock the rows ``changes`` touch, creating at zero those there are none of. The
        rows there are (nearly always all of them) are locked in one statement, in lock order;
        the others are then created and locked. Each writer has locked the chain heads of
        their registrants first, so no other writer waits for these rows meanwhile."""
        wanted = {c.key: c for c in changes if c.key not in self._quantity}
        if not wanted:
            return
        await self._lock(list(wanted))
        missing = [wanted[key] for key in sorted(wanted, key=lock_order)
                   if key not in self._quantity]  # fmt: skip
        if missing:
            await self._session.execute(
                dialect_insert(self._session)(Balance)
                .values([{"registrant_id": c.registrant_id, "location_id": c.location_id,
                          "lot_id": c.lot_id, "product_id": c.product_id,
                          "quantity": Decimal(0)} for c in missing])
                .on_conflict_do_nothing(index_elements=["location_id", "lot_id"])
            )  # fmt: skip
            await self._lock([c.key for c in missing])

    async def _lock(self, keys: list[Key]) -> None:
        statement = (
            select(Balance.location_id, Balance.lot_id, Balance.quantity)
            .where(tuple_(Balance.location_id, Balance.lot_id).in_(keys))
            .order_by(Balance.location_id, Balance.lot_id)
            .with_for_update()
        )
        for location_id, lot_id, quantity in await self._session.execute(statement):
            self._quantity[(location_id, lot_id)] = quantity

    async def apply(self, changes: list[Change]) -> None:
        """Apply ``changes`` (one event's) in memory, all of them or, when a removal finds
        too little, none: the events after a refused one see the balances as it left them."""
        after: dict[Key, Decimal] = {}
        for change in sorted(changes, key=lambda c: lock_order(c.key)):
            if change.key not in self._quantity:  # not foreseen by the batch: held late
                await self.hold([change])
            after[change.key] = after.get(change.key, self._quantity[change.key]) + change.delta
            if after[change.key] < 0:
                raise _insufficient(change)
        self._quantity.update(after)
        for change in changes:
            pending = self._pending.get(change.key)
            self._pending[change.key] = (
                replace(change, delta=pending.delta + change.delta) if pending else change
            )

    async def store(self) -> list[Part]:
        """Each row's net change: on PostgreSQL as a part of the events' statement, elsewhere
        written now."""
        changed = [c for c in self._pending.values() if c.delta != 0]
        self._pending = {}
        if not changed:
            return []
        if dialect_name(self._session) == "postgresql":
            return [Part(_ADD_HELD_SQL, {
                "held_locations": [c.location_id for c in changed],
                "held_lots": [c.lot_id for c in changed],
                "held_amounts": [to_minor(c.delta) for c in changed],
            })]  # fmt: skip
        updates = [{"add_location_id": c.location_id, "add_lot_id": c.lot_id, "delta": c.delta}
                   for c in changed]  # fmt: skip
        await self._session.execute(_ADD_TO, updates)
        return []


_ADD_HELD_SQL = (
    "UPDATE ledger_balances AS b SET quantity = b.quantity + held.amount"
    " FROM unnest(CAST(:held_locations AS uuid[]), CAST(:held_lots AS uuid[]),"
    " CAST(:held_amounts AS bigint[])) AS held(location_id, lot_id, amount)"
    " WHERE b.location_id = held.location_id AND b.lot_id = held.lot_id"
)
"""The net changes to held rows (each locked, and there), from arrays, in minor units."""

_TAKE_SQL = (
    "UPDATE ledger_balances SET quantity = quantity - :b{n}_amount"
    " WHERE location_id = :b{n}_location AND lot_id = :b{n}_lot AND quantity >= :b{n}_amount"
    " RETURNING 1"
)
_ADD_SQL = (
    "INSERT INTO ledger_balances (registrant_id, location_id, lot_id, product_id, quantity)"
    " VALUES (:b{n}_registrant, :b{n}_location, :b{n}_lot, :b{n}_product, :b{n}_amount)"
    " ON CONFLICT (location_id, lot_id) DO UPDATE"
    " SET quantity = ledger_balances.quantity + EXCLUDED.quantity"
)
"""A removal (conditional: it changes no row when there is too little) and an addition (to
a row made at zero when there is none), on both dialects: sent at once on SQLite, as parts
of the event's statement on PostgreSQL. ``{n}`` numbers each change's parameters."""


def _part(change: Change, n: int) -> Part:
    """The statement of ``change``, with its parameters (amounts in minor units)."""
    ids = {f"b{n}_location": change.location_id, f"b{n}_lot": change.lot_id}
    if change.delta > 0:
        added = {f"b{n}_registrant": change.registrant_id, f"b{n}_product": change.product_id,
                 f"b{n}_amount": to_minor(change.delta)}  # fmt: skip
        return Part(_ADD_SQL.format(n=n), ids | added)

    def check(rows: int) -> None:
        if rows != 1:
            raise _insufficient(change)

    return Part(_TAKE_SQL.format(n=n), ids | {f"b{n}_amount": to_minor(-change.delta)}, check)


@lru_cache(maxsize=64)
def _typed(sql: str) -> TextClause:
    """``sql`` with its ids typed, for a driver that keeps UUIDs as text (SQLite); asyncpg
    infers them from the columns."""
    ids = [bindparam(name, type_=Uuid()) for name in _ID_PARAMETER.findall(sql)]
    return text(sql).bindparams(*ids)


_ID_PARAMETER = re.compile(r":(b\d+_(?:location|lot|registrant|product))\b")


async def current(
    session: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    location_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
) -> list[Balance]:
    statement = select(Balance).where(Balance.registrant_id == registrant_id)
    statement = where_given(
        statement,
        (Balance.location_id, location_id),
        (Balance.lot_id, lot_id),
        (Balance.product_id, product_id),
    )
    statement = statement.order_by(Balance.location_id, Balance.lot_id)
    return list((await session.scalars(statement)).all())


async def as_of(
    session: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    instant: datetime,
    location_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, Decimal]]:
    """(location, lot, product, quantity) from the postings of events occurred by ``instant``."""
    total = func.sum(Posting.delta).label("quantity")
    statement = (
        select(Posting.location_id, Posting.lot_id, Posting.product_id, total)
        .where(Posting.registrant_id == registrant_id, Posting.occurred_at <= instant)
        .group_by(Posting.location_id, Posting.lot_id, Posting.product_id)
        .order_by(Posting.location_id, Posting.lot_id)
    )
    statement = where_given(
        statement,
        (Posting.location_id, location_id),
        (Posting.lot_id, lot_id),
        (Posting.product_id, product_id),
    )
    rows = (await session.execute(statement)).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows if row[3] != 0]
