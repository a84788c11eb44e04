"""The group-commit floor: the floor's own work (:mod:`bench.floor`), with the appends that
arrive while a commit is in flight gathered into the next transaction, as a database gathers
its log writes. The limit of this machine for single appends: round trips, BEGIN and COMMIT,
the rows' locks and the WAL flush paid once per group, not once per request.

Each process has one writer on one connection. A request joins the pending list and wakes
the writer; the writer takes everything pending (at most ``MAX_GROUP``), locks the group's
balance rows in one fixed order, checks each request against them in memory (in arrival
order: one short of stock is refused alone, the others go on), writes the group's balances
and events with one statement each, commits, then answers each request. A lone request is
never held waiting for company: the writer starts as soon as it is woken. Serve it as the
floor is served::

    BENCH_FLOOR_DSN=postgresql://... uvicorn bench.floor_grouped:app --workers 2
"""

import asyncio
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from starlette.types import Receive, Scope, Send

from app.core.quantity import to_minor
from bench.floor import read_body, respond

MAX_GROUP = 256
_LOCK = (
    "SELECT registrant_id, quantity FROM floor_balances WHERE registrant_id = ANY($1::uuid[]) "
    "ORDER BY registrant_id FOR UPDATE"
)
_SET = (
    "UPDATE floor_balances AS b SET quantity = v.quantity "
    "FROM unnest($1::uuid[], $2::bigint[]) AS v(registrant_id, quantity) "
    "WHERE b.registrant_id = v.registrant_id"
)
_INSERT = (
    "INSERT INTO floor_events (id, registrant_id, quantity, recorded_at) "
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[])"
)


@dataclass(slots=True)
class Pending:
    registrant_id: uuid.UUID
    quantity: int
    answer: asyncio.Future[tuple[int, dict[str, Any]]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Writer:
    """One connection, one transaction per group of what arrived meanwhile."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.pending: list[Pending] = []
        self.woken = asyncio.Event()

    async def append(self, registrant_id: uuid.UUID, quantity: int) -> tuple[int, dict[str, Any]]:
        request = Pending(registrant_id, quantity)
        self.pending.append(request)
        self.woken.set()
        return await request.answer

    async def run(self) -> None:
        while True:
            await self.woken.wait()
            self.woken.clear()
            while self.pending:
                group, self.pending = self.pending[:MAX_GROUP], self.pending[MAX_GROUP:]
                try:
                    await self._commit(group)
                except Exception as exc:  # each request hears of its group's failure
                    for request in group:
                        if not request.answer.done():
                            request.answer.set_exception(exc)

    async def _commit(self, group: list[Pending]) -> None:
        now, answers = datetime.now(UTC), []
        async with self.connection.transaction():
            locked = await self.connection.fetch(_LOCK, sorted({r.registrant_id for r in group}))
            held = {row["registrant_id"]: row["quantity"] for row in locked}
            taken = []
            for request in group:
                if held.get(request.registrant_id, 0) < request.quantity:
                    answers.append((request, (409, {"detail": "insufficient stock"})))
                    continue
                held[request.registrant_id] -= request.quantity
                event_id = uuid.uuid4()
                taken.append((event_id, request))
                answers.append((request, (201, {"id": str(event_id)})))
            if taken:
                changed = sorted({request.registrant_id for _, request in taken})
                await self.connection.execute(_SET, changed, [held[r] for r in changed])
                await self.connection.execute(
                    _INSERT, [e for e, _ in taken], [r.registrant_id for _, r in taken],
                    [r.quantity for _, r in taken], [now] * len(taken),
                )  # fmt: skip
        for request, answer in answers:  # after COMMIT: nothing is acknowledged before
            request.answer.set_result(answer)


class GroupedFloor:
    def __init__(self) -> None:
        self.connection: Any = None
        self.writer: Writer | None = None
        self.task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            body = await read_body(receive)
            if scope["method"] == "POST" and self.writer is not None:
                data = orjson.loads(body)
                status, answer = await self.writer.append(uuid.UUID(data["registrant_id"]),
                                                          to_minor(data["quantity"]))  # fmt: skip
            else:
                status, answer = 200, {"status": "ready"}
            await respond(send, status, answer)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.connection = await asyncpg.connect(os.environ["BENCH_FLOOR_DSN"])
                self.writer = Writer(self.connection)
                self.task = asyncio.create_task(self.writer.run())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.task is not None:
                    self.task.cancel()
                await self.connection.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


app = GroupedFloor()
