"""The transactional outbox: what happened, written in the transaction that made it happen.

A change and its message commit together, so nothing is announced for a rolled-back change
and nothing committed goes unannounced. The worker hands each message, in order of ``id``, to
the in-process subscribers of its topic (at least once: a subscriber must tolerate a repeat)
and marks it dispatched in the same transaction as the subscribers' own writes.

The outbox knows no domain: each declares the topics it publishes (and what builds a message
of its own) in its ``messages`` module, and a subscriber imports the topic from there.
"""

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Identity,
    Index,
    Integer,
    String,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.bulk import insert_rows
from app.core.db import Base, UTCDateTime, table_of


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_dispatched_at_id", "dispatched_at", "id"),)

    # SQLite numbers rows itself only for an INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    registrant_id: Mapped[uuid.UUID | None]
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    """Dispatches whose subscribers failed."""
    last_error: Mapped[str | None] = mapped_column(String(2000))
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set aside after too many failures, so the messages after it are not held back; kept
    with its error for an operator to see."""


class SubscriberFailed(Exception):
    """A subscriber raised while handling ``message_id``: the dispatch is rolled back."""

    def __init__(self, message_id: int, error: BaseException) -> None:
        super().__init__(f"outbox message {message_id}: {error!r}")
        self.message_id = message_id
        self.error = error


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    registrant_id: uuid.UUID | None
    topic: str
    payload: dict[str, Any]
    created_at: datetime


Subscriber = Callable[[AsyncSession, Message], Awaitable[None]]


def message(
    *,
    topic: str,
    payload: dict[str, Any],
    now: datetime,
    registrant_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The row of a message. Payloads carry ids, never patient data."""
    return {"registrant_id": registrant_id, "topic": topic, "payload": payload, "created_at": now}


async def publish(
    session: AsyncSession,
    *,
    topic: str,
    payload: dict[str, Any],
    now: datetime,
    registrant_id: uuid.UUID | None = None,
) -> None:
    """Write a message in the caller's transaction."""
    await publish_all(
        session, [message(topic=topic, payload=payload, now=now, registrant_id=registrant_id)]
    )


async def publish_all(session: AsyncSession, messages: Sequence[dict[str, Any]]) -> None:
    """Write rows made by :func:`message`, in one statement, in the caller's transaction."""
    await insert_rows(session, table_of(OutboxMessage), messages)


async def dispatch_next(
    session: AsyncSession,
    subscribers: Mapping[str, Sequence[Subscriber]],
    *,
    now: datetime,
) -> Message | None:
    """Hand the oldest undispatched message to its subscribers; None when there is none."""
    row = (
        await session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.registrant_id,
                OutboxMessage.topic,
                OutboxMessage.payload,
                OutboxMessage.created_at,
            )
            .where(OutboxMessage.dispatched_at.is_(None), OutboxMessage.dead_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).one_or_none()
    if row is None:
        return None
    message = Message(*row)
    try:
        for subscriber in subscribers.get(message.topic, ()):
            await subscriber(session, message)
    except Exception as exc:
        raise SubscriberFailed(message.id, exc) from exc
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message.id).values(dispatched_at=now)
    )
    return message


async def record_failure(
    session: AsyncSession, failure: SubscriberFailed, *, now: datetime, max_attempts: int
) -> bool:
    """Count a failed dispatch (in a transaction of its own, the failed one rolled back);
    after ``max_attempts`` the message is set aside. Returns whether it was."""
    row = await session.get(OutboxMessage, failure.message_id, with_for_update=True)
    if row is None:
        return False
    row.attempts += 1
    row.last_error = repr(failure.error)[:2000]
    if row.attempts >= max_attempts:
        row.dead_at = now
    await session.flush()
    return row.dead_at is not None
