"""History of reference data: every version of a registrant, staff member or patient.

Reference rows are mutable (they describe the present); each change first appends the new
version here, so what was true on any date can be shown. Append-only (triggers).
"""

import uuid
from datetime import datetime
from typing import Any

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
