"""Idempotent POSTs: a retried request gets the first answer instead of a second change.

A client sends ``Idempotency-Key``. Keys are scoped to the caller and kept
``idempotency_ttl_hours``. The first response is stored in the same transaction as the change it
reports, so a stored answer always means a committed change and a rolled-back change leaves no
key behind. Then:

- same key, same request (method, path, query, parsed JSON body, and the caller's roles and
  registrants): the stored response is replayed;
- same key, another request (another target, body or authority): 422 ``idempotency-key-reused``;
- same key while the first is still running: 409 ``idempotency-in-flight`` on PostgreSQL (a
  transaction-scoped advisory lock on the key); SQLite serialises writers, so the second simply
  waits for the first and is replayed.

On PostgreSQL the lock is taken and the key looked up in one statement, whose snapshot may
predate the commit of a first request that released the lock a moment before: the second
request then runs, and its response's row, inserted only if no other is there
(:func:`storing`), finds the first one's and refuses it as in flight (all of its work
rolled back); its retry is replayed.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from sqlalchemy import JSON, Boolean, Integer, LargeBinary, String, delete, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.bulk import Insert
from app.core.clock import Clock
from app.core.db import Base, UTCDateTime, dialect_name, table_of
from app.core.errors import AppError, Conflict
from app.core.jobs import ClaimedJob, Periodic

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_REPLAYED_HEADERS = ("location", "content-type")


class IdempotencyKeyReused(AppError):
    slug = "idempotency-key-reused"
    status = 422
    title = "Idempotency key reused"
    description = "This Idempotency-Key was already used for a different request."


class IdempotencyInFlight(Conflict):
    slug = "idempotency-in-flight"
    title = "Request with this key in progress"
    description = "A request with this Idempotency-Key is still being processed; retry shortly."


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


TABLE = table_of(IdempotencyRecord)
"""The stored responses' table, for the unit of work that inserts their rows."""
# Built once: cheaper than a statement per request.
_LOCK_AND_FIND = text(
    "SELECT pg_try_advisory_xact_lock(:id) AS locked, stored.fingerprint, stored.status_code,"
    " stored.headers, stored.body, stored.expires_at FROM (SELECT 1) AS one"
    " LEFT JOIN idempotency_keys AS stored ON stored.scope = :scope AND stored.key = :key"
).columns(
    locked=Boolean(), fingerprint=String(), status_code=Integer(), headers=JSON(),
    body=LargeBinary(), expires_at=UTCDateTime(),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    headers: dict[str, str]
    body: bytes


class IdempotentReplay(Exception):
    """Raised to answer with the stored response without running the endpoint."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("replay")
        self.stored = stored


@dataclass(frozen=True, slots=True)
class PendingKey:
    """A key seen for the first time; the edge stores the response under it before commit."""

    scope: str
    key: str
    fingerprint: str


def fingerprint(method: str, path: str, query: str, body: bytes, *, authority: str) -> str:
    """The request's identity: method, the whole target (path and query, its parameters in
    order), the body parsed (key order and spacing ignored) and the authority the caller
    acted with. A key sent again to another target, or by the same subject holding other
    registrants or roles, is another request: refused as reused, never answered with what
    the first one was shown."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    parameters = sorted(parse_qsl(query, keep_blank_values=True))
    digest = hashlib.sha256(f"{method} {path}?{urlencode(parameters)}\n{authority}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def _lock_id(scope: str, key: str) -> int:
    raw = hashlib.sha256(f"{scope}\x00{key}".encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)


@dataclass(frozen=True, slots=True)
class _Found:
    fingerprint: str
    status_code: int
    headers: dict[str, str]
    body: bytes
    expires_at: datetime


async def begin(
    session: AsyncSession, *, scope: str, key: str, request_fingerprint: str, now: datetime
) -> PendingKey:
    """Claim ``key`` for this request, or raise: replay, reused, or in flight."""
    record: _Found | IdempotencyRecord | None
    if dialect_name(session) == "postgresql":
        record = await _lock_and_find(session, scope, key)
    else:
        record = await session.get(IdempotencyRecord, (scope, key))
    if record is not None and record.expires_at <= now:
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )
        record = None
    if record is None:
        return PendingKey(scope=scope, key=key, fingerprint=request_fingerprint)
    if record.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for a different request; use a new key"
        )
    raise IdempotentReplay(StoredResponse(record.status_code, record.headers, record.body))


async def _lock_and_find(session: AsyncSession, scope: str, key: str) -> _Found | None:
    """PostgreSQL: the key's lock, or 409 in flight; and its stored response, if any."""
    parameters = {"id": _lock_id(scope, key), "scope": scope, "key": key}
    row = (await session.execute(_LOCK_AND_FIND, parameters)).one()
    if not row.locked:
        raise _in_flight()
    if row.fingerprint is None:
        return None
    return _Found(row.fingerprint, row.status_code, row.headers, row.body, row.expires_at)


def _in_flight() -> IdempotencyInFlight:
    return IdempotencyInFlight(headers={"Retry-After": "1"})


def stored_response(
    pending: PendingKey,
    *,
    status_code: int,
    headers: dict[str, str],
    body: bytes,
    now: datetime,
    ttl: timedelta,
) -> dict[str, Any]:
    """The row that stores the response under the key, for the caller to insert in the
    transaction of the change it reports."""
    return {
        "scope": pending.scope,
        "key": pending.key,
        "fingerprint": pending.fingerprint,
        "status_code": status_code,
        "headers": {k: v for k, v in headers.items() if k.lower() in _REPLAYED_HEADERS},
        "body": body,
        "created_at": now,
        "expires_at": now + ttl,
    }


def storing(row: dict[str, Any]) -> Insert:
    """The insert of :func:`stored_response`'s row, refusing the request as in flight when a
    response is already stored under the key (see the module's docstring)."""
    return Insert(TABLE, [row], refused=_in_flight)


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Delete keys past their time; returns how many."""
    result: Any = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now)
    )
    return int(result.rowcount or 0)


PURGE = Periodic("purge_idempotency_keys", timedelta(hours=1))
"""The worker's job purging the keys past their time, every hour (:func:`purge_job`)."""


async def purge_job(session: AsyncSession, job: ClaimedJob, clock: Clock) -> dict[str, Any]:
    return {"purged": await purge_expired(session, now=clock.now())}
