"""The floor: the least an append can cost on the same server, driven by the same load.

A bare ASGI app (no framework) with an asyncpg pool. Each POST, one transaction: one
conditional balance update (``... WHERE quantity >= $1``, as the ledger's) and one insert into
a simple events table, keyed by the body's ``registrant_id`` so it sees the same spread of rows
as the ledger (20 rows, or one hot row). Serve it as the service is served::

    BENCH_FLOOR_DSN=postgresql://... uvicorn bench.floor:app --workers 2
"""

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from starlette.types import Receive, Scope, Send

from app.core.quantity import to_minor

POOL_SIZE = 10
"""Connections per process kept open, as the service's default pool (it may overflow to 20)."""
_TAKE = (
    "UPDATE floor_balances SET quantity = quantity - $2 WHERE registrant_id = $1 AND quantity >= $2"
)
_INSERT = (
    "INSERT INTO floor_events (id, registrant_id, quantity, recorded_at) VALUES ($1, $2, $3, $4)"
)


class Floor:
    def __init__(self) -> None:
        self.pool: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            body = await read_body(receive)
            if scope["method"] == "POST":
                status, answer = await self._append(body)
            else:
                status, answer = 200, {"status": "ready"}
            await respond(send, status, answer)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(
                    os.environ["BENCH_FLOOR_DSN"], min_size=POOL_SIZE, max_size=2 * POOL_SIZE
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _append(self, body: bytes) -> tuple[int, dict[str, Any]]:
        data = orjson.loads(body)
        registrant_id = uuid.UUID(data["registrant_id"])
        quantity = to_minor(data["quantity"])
        event_id = uuid.uuid4()
        async with self.pool.acquire() as connection, connection.transaction():
            taken = await connection.execute(_TAKE, registrant_id, quantity)
            if taken != "UPDATE 1":
                return 409, {"detail": "insufficient stock"}
            await connection.execute(_INSERT, event_id, registrant_id, quantity, datetime.now(UTC))
        return 201, {"id": str(event_id)}


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(send: Send, status: int, answer: dict[str, Any]) -> None:
    body = orjson.dumps(answer)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = Floor()
