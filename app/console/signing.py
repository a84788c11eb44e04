"""Signing in and out of the console: sessions and sign-ins in flight (docs/console.md).

A browser holds a random secret in its cookie; the server keeps the secret's hash with the
claims it signed in with, so a session ends when its holder signs out, when it lies unused for
``console_idle_minutes``, or ``console_session_hours`` after it began, whichever comes first.
A sign-in in flight (an authorization request sent to the identity provider, or a development
sign-in link) is taken at most once: the row is marked used by the statement that reads it.
"""

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.auth.tokens import principal_from_claims
from app.console.models import ConsoleSession, ConsoleSignIn
from app.core.config import Settings

TOUCH_AFTER = timedelta(minutes=1)
"""A session's last use is written at most this often: a page read writes nothing more."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def principal_of(console_session: ConsoleSession) -> Principal:
    """Who the session's holder is: the same principal an API token with its claims names."""
    return principal_from_claims(console_session.claims).for_request()


async def open_session(
    db: AsyncSession,
    claims: dict[str, Any],
    *,
    signed_in_with: str,
    now: datetime,
    settings: Settings,
) -> str:
    """A new session for ``claims`` (checked as an API token's are): its cookie's secret."""
    principal_from_claims(claims)
    secret = new_secret()
    db.add(
        ConsoleSession(
            id=uuid.uuid4(),
            secret_hash=digest(secret),
            csrf_token=new_secret(),
            claims=claims,
            signed_in_with=signed_in_with,
            signed_in_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.console_session_hours),
        )
    )
    await db.flush()
    return secret


async def live_session(
    db: AsyncSession, secret: str, *, now: datetime, settings: Settings
) -> ConsoleSession | None:
    """The session the cookie's ``secret`` holds, unless it has ended, expired or idled."""
    found = await db.scalar(
        select(ConsoleSession).where(ConsoleSession.secret_hash == digest(secret))
    )
    if found is None or found.ended_at is not None or now >= found.expires_at:
        return None
    if now - found.last_seen_at >= timedelta(minutes=settings.console_idle_minutes):
        return None
    return found


def needs_touch(console_session: ConsoleSession, now: datetime) -> bool:
    return now - console_session.last_seen_at >= TOUCH_AFTER


def touch(console_session_id: uuid.UUID, now: datetime) -> Any:
    """The statement noting a session's use (run in a transaction of its own)."""
    return (
        update(ConsoleSession)
        .where(ConsoleSession.id == console_session_id, ConsoleSession.ended_at.is_(None))
        .values(last_seen_at=now)
    )


async def end_session(db: AsyncSession, secret: str, *, now: datetime, why: str) -> None:
    await db.execute(
        update(ConsoleSession)
        .where(ConsoleSession.secret_hash == digest(secret), ConsoleSession.ended_at.is_(None))
        .values(ended_at=now, ended_why=why)
    )


async def begin_sign_in(
    db: AsyncSession,
    *,
    kind: str,
    payload: dict[str, Any],
    return_to: str,
    now: datetime,
    lifetime: timedelta,
    secret: str | None = None,
) -> str:
    """Keep a sign-in in flight; the secret that finishes it (sent as ``state``, or in a
    link)."""
    secret = secret or new_secret()
    db.add(
        ConsoleSignIn(
            id=uuid.uuid4(),
            secret_hash=digest(secret),
            kind=kind,
            payload=payload,
            return_to=return_to,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await db.flush()
    return secret


async def take_sign_in(
    db: AsyncSession, secret: str, *, kind: str, now: datetime
) -> ConsoleSignIn | None:
    """The sign-in ``secret`` finishes, marked used; None when there is none unused and
    unexpired. Two browsers racing with one link: the update lets one of them through."""
    taken = await db.execute(
        update(ConsoleSignIn)
        .where(
            ConsoleSignIn.secret_hash == digest(secret),
            ConsoleSignIn.kind == kind,
            ConsoleSignIn.used_at.is_(None),
            ConsoleSignIn.expires_at > now,
        )
        .values(used_at=now)
        .returning(ConsoleSignIn.id)
    )
    found_id = taken.scalar_one_or_none()
    if found_id is None:
        return None
    return await db.get(ConsoleSignIn, found_id)
