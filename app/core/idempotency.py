"""Idempotent POSTs: a retried request gets the first answer instead of a second change.

A client sends ``Idempotency-Key``. Keys are scoped to the caller and kept
``idempotency_ttl_hours``. The first response is stored in the same transaction as the change it
reports, so a stored answer always means a committed change and a rolled-back change leaves no
key behind. Then:

- same key, same request (method, path and parsed JSON body): the stored response is replayed;
- same key, another request: 422 ``idempotency-key-reused``;
- same key while the first is still running: 409 ``idempotency-in-flight`` on PostgreSQL (a
  transaction-scoped advisory lock on the key); SQLite serialises writers, so the second simply
  waits for the first and is replayed.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import JSON, LargeBinary, String, delete, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, dialect_name
from app.core.errors import AppError, Conflict

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


# Built once: cheaper than a statement per request.
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:id)")


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


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The request's identity: method, path and the body parsed (key order and spacing ignored)."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def _lock_id(scope: str, key: str) -> int:
    raw = hashlib.sha256(f"{scope}\x00{key}".encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)


async def begin(
    session: AsyncSession, *, scope: str, key: str, request_fingerprint: str, now: datetime
) -> PendingKey:
    """Claim ``key`` for this request, or raise: replay, reused, or in flight."""
    if dialect_name(session) == "postgresql":
        locked = await session.scalar(_TRY_LOCK, {"id": _lock_id(scope, key)})
        if not locked:
            raise IdempotencyInFlight(headers={"Retry-After": "1"})
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


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Delete keys past their time; returns how many."""
    result: Any = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now)
    )
    return int(result.rowcount or 0)
