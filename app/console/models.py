"""Console sign-ins: the sessions a browser holds, and the sign-ins in flight.

Neither table is part of the ledger: a session is a credential, kept so that it can be ended
(sign-out, idle, expiry) on the server, not only forgotten by the browser. Only a hash of the
cookie's secret is stored, so a copy of the database opens no session.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class ConsoleSession(Base):
    __tablename__ = "console_sessions"
    __table_args__ = (Index("uq_console_sessions_secret_hash", "secret_hash", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the cookie's secret, hex."""
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Sent back with every form of this session (synchronizer token)."""
    claims: Mapped[dict[str, Any]] = mapped_column(JSON)
    """``sub``, ``name``, ``roles`` and ``registrants``, as an API token carries them."""
    signed_in_with: Mapped[str] = mapped_column(String(20))
    """``oidc``, or ``link`` (a development sign-in link)."""
    signed_in_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_why: Mapped[str | None] = mapped_column(String(20))


class ConsoleSignIn(Base):
    """A sign-in begun and not yet finished: an OpenID Connect authorization request (its
    state, nonce and PKCE verifier), or a development sign-in link (the claims it grants)."""

    __tablename__ = "console_sign_ins"
    __table_args__ = (Index("uq_console_sign_ins_secret_hash", "secret_hash", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the ``state`` sent to the provider, or of the link's ticket."""
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    return_to: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
