"""Durable jobs: rows that any number of workers claim, so no job lives only in memory.

A worker claims the next due job by leasing it (``lease_until``): on PostgreSQL with
``FOR UPDATE SKIP LOCKED`` so concurrent workers never take the same row; SQLite serialises
writers, so one worker there. A job whose worker died is claimed again once its lease runs out.
Failures are retried with exponential backoff up to ``max_attempts``.

Each part of the service declares the kinds of job it runs (a :data:`JobHandler` for each) and
those it schedules (:class:`Periodic`); ``app.worker`` assembles them.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String, Text, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import Clock
from app.core.db import Base, UTCDateTime, dialect_insert

MAX_BACKOFF = timedelta(hours=1)


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(50))
    registrant_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    run_after: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=10)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: uuid.UUID
    kind: str
    registrant_id: uuid.UUID | None
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


JobHandler = Callable[[AsyncSession, ClaimedJob, Clock], Awaitable[dict[str, Any]]]
"""Does a claimed job's work, in the transaction that marks it succeeded; returns its result."""


@dataclass(frozen=True, slots=True)
class Periodic:
    """A job of ``kind`` enqueued once in each period of ``every``."""

    kind: str
    every: timedelta


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
    registrant_id: uuid.UUID | None = None,
    run_after: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 10,
    job_id: uuid.UUID | None = None,
) -> bool:
    """Queue a job; with ``dedupe_key``, a second job under the same key is silently dropped.

    Returns whether a job was added.
    """
    values = {
        "id": job_id or uuid.uuid4(),
        "kind": kind,
        "registrant_id": registrant_id,
        "payload": payload or {},
        "dedupe_key": dedupe_key,
        "status": JobStatus.queued,
        "run_after": run_after or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "created_at": now,
    }
    statement = (
        dialect_insert(session)(Job)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    result: Any = await session.execute(statement)
    return bool(result.rowcount)


async def claim(
    session: AsyncSession, *, worker: str, now: datetime, lease: timedelta
) -> ClaimedJob | None:
    """Lease the next due job (or one whose lease ran out) to ``worker``."""
    due = or_(
        and_(Job.status == JobStatus.queued, Job.run_after <= now),
        and_(Job.status == JobStatus.running, Job.lease_until < now),
    )
    next_id = (
        select(Job.id)
        .where(due)
        .order_by(Job.run_after, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(Job)
        .where(Job.id == next_id)
        .values(
            status=JobStatus.running,
            attempts=Job.attempts + 1,
            lease_until=now + lease,
            leased_by=worker,
        )
        .returning(Job.id, Job.kind, Job.registrant_id, Job.payload, Job.attempts, Job.max_attempts)
    )
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else ClaimedJob(*row)


async def succeed(
    session: AsyncSession, job: ClaimedJob, *, now: datetime, result: dict[str, Any]
) -> None:
    await session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(status=JobStatus.succeeded, finished_at=now, lease_until=None, result=result)
    )


async def latest(session: AsyncSession, *, kind: str, registrant_id: uuid.UUID) -> Job | None:
    """The job of ``kind`` for ``registrant_id`` queued last (a dashboard's "last run")."""
    found: Job | None = await session.scalar(
        select(Job)
        .where(Job.kind == kind, Job.registrant_id == registrant_id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(1)
    )
    return found


def backoff(attempts: int) -> timedelta:
    """2^attempts seconds, at most an hour."""
    return min(timedelta(seconds=2**attempts), MAX_BACKOFF)


async def fail(session: AsyncSession, job: ClaimedJob, *, now: datetime, error: str) -> None:
    """Retry later, or give up after ``max_attempts``."""
    final = job.attempts >= job.max_attempts
    await session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(
            status=JobStatus.failed if final else JobStatus.queued,
            run_after=now + backoff(job.attempts),
            lease_until=None,
            last_error=error[:2000],
            finished_at=now if final else None,
        )
    )
