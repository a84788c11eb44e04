"""The console's job for the worker: forget sessions and sign-ins that can no longer be used.

A session ended (signed out), expired or idle, and a sign-in used or past its time, open
nothing; keeping them would only keep hashes nobody can use. Who signed in, and when, stays
in the audit trail (kind ``sign_in``)."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from app.console.models import ConsoleSession, ConsoleSignIn
from app.core.clock import Clock
from app.core.config import Settings
from app.core.jobs import ClaimedJob, JobHandler, Periodic

PURGE = Periodic("purge_console_sessions", timedelta(hours=1))


async def purge_dead(session: AsyncSession, *, now: datetime, settings: Settings) -> dict[str, int]:
    """Delete what can no longer sign anyone in; how many of each."""
    idle_since = now - timedelta(minutes=settings.console_idle_minutes)
    sessions: Any = await session.execute(delete(ConsoleSession).where(or_(
        ConsoleSession.ended_at.is_not(None), ConsoleSession.expires_at <= now,
        ConsoleSession.last_seen_at <= idle_since)))  # fmt: skip
    sign_ins: Any = await session.execute(delete(ConsoleSignIn).where(or_(
        ConsoleSignIn.used_at.is_not(None), ConsoleSignIn.expires_at <= now)))  # fmt: skip
    return {"sessions": int(sessions.rowcount or 0), "sign_ins": int(sign_ins.rowcount or 0)}


def purge_job(settings: Settings) -> JobHandler:
    async def handle(session: AsyncSession, job: ClaimedJob, clock: Clock) -> dict[str, Any]:
        return await purge_dead(session, now=clock.now(), settings=settings)

    return handle
