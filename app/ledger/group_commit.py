"""The ledger's writer: single appends that arrive together are committed together.

Every append pays, besides its own rows, for a transaction: BEGIN, its chain head's lock, a
statement, COMMIT and the flush of the write-ahead log, all while the head is locked and every
other writer of that registrant waits. Databases write their own logs the way this writer
writes the ledger (docs/adr/0008-group-commit.md): whatever arrives while one commit is in
flight goes into the next, so those costs are paid once per group, not once per request.

Each worker process has one writer. A request checks its event in its own unit of work, as a
single append does (:func:`app.ledger.service.check`), then hands it to the writer and waits.
The writer has no task of its own: the first request to find it idle writes, in its own
session, the group of everything waiting (at most :data:`MAX_GROUP`), and answers each
request of it. Meanwhile the next group gathers; a lone request is written at once.

A group is one transaction, in the order requests arrived:

1. the chain heads of its registrants are locked in one statement, in one order; then the
   balances its events touch, in one order (every writer's order: no deadlock);
2. each event is checked against the balances in memory, as the single append's conditional
   update would check it: one that finds too little stock is refused alone and left out;
3. the others are linked onto their chains, and each request's answer is built from its row;
4. every row (events, postings, Merkle nodes, heads, outbox messages, balances, and each
   request's stored idempotent response and audit rows) goes in one statement; then COMMIT.

A request is answered only after COMMIT. When the statement fails (a key stored meanwhile, a
lost connection), the group is rolled back and each request is written again alone, so that it
gets the answer it would have had alone: one request never fails another. A failed COMMIT
fails the whole group: whether it happened is unknown, and a client's retry with the same
Idempotency-Key is what settles it.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import bulk
from app.core.errors import ServiceUnavailable
from app.edge.routing import Pending
from app.ledger.balances import HeldBook, InsufficientStock
from app.ledger.rows import EventRow
from app.ledger.service import Checked
from app.ledger.writes import PendingWrites

MAX_GROUP = 256
"""The most requests one group commits: a bound on the statement's size and on how long the
request that writes it waits for its own answer."""

T = TypeVar("T")

Answer = Callable[[EventRow], tuple[T, list[bulk.Insert]]]
"""Builds a request's answer from its event's row, with the rows that commit with it."""


@dataclass(eq=False, slots=True)
class _Request(Generic[T]):
    checked: Checked
    answer: Answer[T]
    outcome: asyncio.Future[T] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def settle(self, value: T) -> None:
        if not self.outcome.done():
            self.outcome.set_result(value)

    def fail(self, error: BaseException) -> None:
        if not self.outcome.done():
            self.outcome.set_exception(error)


@dataclass(slots=True)
class _Outcome:
    """What a request of a group is answered once the group commits: its value, or its
    refusal (which the group's rollback voids: alone, the request may be answered otherwise)."""

    request: _Request[Any]
    value: Any = None
    refusal: Exception | None = None

    def settle(self) -> None:
        if self.refusal is not None:
            self.request.fail(self.refusal)
        else:
            self.request.settle(self.value)


class LedgerWriter:
    """One per worker process (the app's ``state.ledger_writer``, on PostgreSQL)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._waiting: list[_Request[Any]] = []
        self._turn = asyncio.Lock()
        self._sizes = Histogram(
            "csledger_ledger_group_size",
            "Appends committed together by the ledger's writer, per group.",
            buckets=tuple(2**n for n in range(MAX_GROUP.bit_length())),  # 1, 2, ... MAX_GROUP
            registry=registry,
        )

    async def write(self, session: AsyncSession, checked: Checked, answer: Answer[T]) -> T:
        """Write ``checked``, in a group with what else is waiting; return what ``answer``
        made of its row once it is committed, or raise the request's refusal."""
        request: _Request[T] = _Request(checked, answer)
        self._waiting.append(request)
        async with self._turn:  # first come, first served: an earlier request wrote it, or this
            while not request.outcome.done():  # (after those still waiting before it)
                group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
                self._sizes.observe(len(group))
                await self._commit(session, group)
        return request.outcome.result()

    async def _commit(self, session: AsyncSession, group: list[_Request[Any]]) -> None:
        """Commit ``group`` in ``session`` and settle each request of it, whatever happens."""
        try:
            try:
                outcomes = await _write(session, group)
            except Exception as failure:
                await session.rollback()
                if len(group) == 1:
                    group[0].fail(failure)
                    return
                for request in group:  # alone, each gets the answer it would have had
                    await self._commit(session, [request])
                return
            try:
                await session.commit()
            except Exception as failure:
                for request in group:
                    request.fail(failure)
                return
            for outcome in outcomes:
                outcome.settle()
        finally:  # the writing request cancelled: the outcome is unknown, a retry settles it
            for request in group:
                request.fail(ServiceUnavailable("the append was interrupted; retry it"))


async def _write(session: AsyncSession, group: list[_Request[Any]]) -> list[_Outcome]:
    """Lock, check, link and send ``group``'s writes in ``session``, leaving COMMIT to the
    caller; a request the balances refuse is left out."""
    writes, book = PendingWrites(session), HeldBook(session)
    await writes.lock_heads(request.checked.event["registrant_id"] for request in group)
    await book.hold(change for request in group for change in request.checked.changes)
    outcomes, inserts = [], []
    for request in group:
        try:
            await book.apply(request.checked.changes)
        except InsufficientStock as refusal:
            outcomes.append(_Outcome(request, refusal=refusal))
            continue
        row = await writes.add(request.checked.event, request.checked.changes)
        value, rows = request.answer(row)
        outcomes.append(_Outcome(request, value))
        inserts.extend(rows)
    dialect = session.get_bind().dialect
    await writes.flush([*await book.store(), *bulk.parts_of(dialect, inserts)])
    return outcomes


class PendingAppend(Pending):
    """An append's response, to be: the edge commits it through the writer."""

    def __init__(
        self, writer: LedgerWriter, checked: Checked, answer: Callable[[EventRow], Response]
    ) -> None:
        super().__init__()
        self._writer, self._checked, self._answer = writer, checked, answer

    async def commit(
        self, session: AsyncSession, rows_of: Callable[[Response], list[bulk.Insert]]
    ) -> Response:
        def answered(row: EventRow) -> tuple[Response, list[bulk.Insert]]:
            response = self._answer(row)
            return response, rows_of(response)

        return await self._writer.write(session, self._checked, answered)


async def writer_of(request: Request) -> LedgerWriter | None:
    """The process's writer (a dependency: async, so FastAPI runs it without a thread hop):
    none on SQLite, whose writers take turns anyway."""
    writer: LedgerWriter | None = request.app.state.ledger_writer
    return writer
