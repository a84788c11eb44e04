"""History of mutable rows: every version of a registrant, staff member, patient, plan,
session, prescription, webhook endpoint or FHIR sender and record.

Such rows describe the present; each version is also appended here, so what was true on any
date can be shown. Append-only (triggers). A row is kept as the API shows it (its output
schema), so its history never holds what the API hides (a webhook's secret). The one way to
change a kept row is :func:`revise`; :func:`keep_version` keeps its first version.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import JSON, Index, String, UniqueConstraint, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class Revision(Base):
    __tablename__ = "revisions"
    __table_args__ = (
        UniqueConstraint("entity_type", "entity_id", "version"),
        Index("ix_revisions_registrant_id_entity_type", "registrant_id", "entity_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID]
    entity_type: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[uuid.UUID]
    version: Mapped[int]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    changed_by: Mapped[str] = mapped_column(String(200))


async def record_revision(
    session: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    entity_type: str,
    entity_id: uuid.UUID,
    version: int,
    data: dict[str, Any],
    changed_at: datetime,
    changed_by: str,
) -> None:
    """Append one version; ``data`` must already be JSON-ready (use ``model_dump(mode="json")``)."""
    await session.execute(
        insert(Revision).values(
            id=uuid.uuid4(),
            registrant_id=registrant_id,
            entity_type=entity_type,
            entity_id=entity_id,
            version=version,
            data=data,
            changed_at=changed_at,
            changed_by=changed_by,
        )
    )


async def list_revisions(
    session: AsyncSession, *, entity_type: str, entity_id: uuid.UUID
) -> list[Revision]:
    statement = (
        select(Revision)
        .where(Revision.entity_type == entity_type, Revision.entity_id == entity_id)
        .order_by(Revision.version)
    )
    return list((await session.scalars(statement)).all())


class Versioned(Protocol):
    """A row with a history: a table, an id and a version, changed at ``updated_at``."""

    __tablename__: Any
    id: Any
    version: Any
    updated_at: Any


Shown = type[BaseModel] | Mapping[str, Any]
"""How a version is kept: the output schema the API shows the row with, or (a row the API
shows otherwise) its JSON-ready data."""


async def keep_version(
    session: AsyncSession, row: Versioned, shown: Shown, *, by: str, at: datetime
) -> None:
    """Keep ``row``'s version as it is now (its first, once created), changed ``by`` whom."""
    data = (dict(shown) if isinstance(shown, Mapping)
            else shown.model_validate(row).model_dump(mode="json"))  # fmt: skip
    await record_revision(
        session, registrant_id=getattr(row, "registrant_id", row.id),
        entity_type=row.__tablename__, entity_id=row.id, version=row.version, data=data,
        changed_at=at, changed_by=by,
    )  # fmt: skip


async def revise(
    session: AsyncSession, row: Versioned, shown: Shown, *, by: str, at: datetime
) -> None:
    """``row`` was changed: its version moves on, at ``at``, and is kept."""
    row.version += 1
    row.updated_at = at
    await session.flush()
    await keep_version(session, row, shown, by=by, at=at)


async def history(session: AsyncSession, row: Versioned) -> list[Revision]:
    """Every version of ``row``, oldest first."""
    return await list_revisions(session, entity_type=row.__tablename__, entity_id=row.id)
