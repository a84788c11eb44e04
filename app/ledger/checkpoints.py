"""Signed checkpoints: a registrant's tree size and root, signed with a key the database
never holds, so a ledger rewritten and re-signed is caught by anyone keeping an older one
(a consistency proof from it no longer verifies)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Select, String, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.auth.tokens import sign_statement
from app.core import outbox
from app.core.canonical import format_timestamp
from app.core.db import Base, UTCDateTime
from app.ledger import merkle
from app.ledger.keys import Signer
from app.ledger.merkle_store import compute
from app.ledger.messages import CHECKPOINT_PUBLISHED
from app.ledger.models import ChainHead


class Checkpoint(Base):
    __tablename__ = "ledger_checkpoints"
    __table_args__ = (
        Index("uq_ledger_checkpoints_registrant_id_tree_size", "registrant_id", "tree_size",
              unique=True),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    registrant_id: Mapped[uuid.UUID]
    tree_size: Mapped[int]
    root_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kid: Mapped[str] = mapped_column(String(100))
    jws: Mapped[str] = mapped_column(Text)


def statement(
    *, registrant_id: uuid.UUID, tree_size: int, root_hash: str, signed_at: datetime
) -> dict[str, Any]:
    """What a checkpoint's signature covers."""
    return {
        "registrant_id": str(registrant_id),
        "tree_size": tree_size,
        "root_hash": root_hash,
        "signed_at": format_timestamp(signed_at),
    }


async def make(
    session: AsyncSession, registrant_id: uuid.UUID, *, signer: Signer, now: datetime
) -> dict[str, Any] | None:
    """Sign the registrant's current tree, unless it is empty or already signed at this size."""
    size = await session.scalar(
        select(ChainHead.sequence).where(ChainHead.registrant_id == registrant_id)
    )
    if not size or await _signed_at_size(session, registrant_id, size):
        return None
    root = await compute(session, registrant_id, lambda nodes: merkle.root(size, nodes))
    payload = statement(
        registrant_id=registrant_id, tree_size=size, root_hash=root.hex(), signed_at=now
    )
    row = {
        "id": uuid.uuid4(),
        "registrant_id": registrant_id,
        "tree_size": size,
        "root_hash": root.hex(),
        "signed_at": now,
        "kid": signer.kid,
        "jws": sign_statement(payload, private_pem=signer.private_pem, kid=signer.kid),
    }
    await session.execute(insert(Checkpoint).values(**row))
    await outbox.publish(
        session,
        topic=CHECKPOINT_PUBLISHED,
        registrant_id=registrant_id,
        payload={"checkpoint_id": str(row["id"]), **payload},
        now=now,
    )
    return row


async def _signed_at_size(session: AsyncSession, registrant_id: uuid.UUID, size: int) -> bool:
    found = await session.scalar(
        select(Checkpoint.id).where(
            Checkpoint.registrant_id == registrant_id, Checkpoint.tree_size == size
        )
    )
    return found is not None


async def registrants_behind(session: AsyncSession) -> list[uuid.UUID]:
    """Registrants whose chain grew since their last checkpoint."""
    signed = select(Checkpoint.tree_size).where(
        Checkpoint.registrant_id == ChainHead.registrant_id,
        Checkpoint.tree_size == ChainHead.sequence,
    )
    behind = select(ChainHead.registrant_id).where(ChainHead.sequence > 0, ~signed.exists())
    return list((await session.scalars(behind)).all())


def of_registrant(registrant_id: uuid.UUID) -> Select[Checkpoint]:
    """The registrant's checkpoints (the caller orders and pages them)."""
    return select(Checkpoint).where(Checkpoint.registrant_id == registrant_id)


async def newest(session: AsyncSession, registrant_id: uuid.UUID, limit: int) -> list[Checkpoint]:
    """The registrant's last ``limit`` checkpoints, the newest (the largest tree) first."""
    found = await session.scalars(
        of_registrant(registrant_id).order_by(Checkpoint.tree_size.desc()).limit(limit)
    )
    return list(found)


async def latest(session: AsyncSession, registrant_id: uuid.UUID) -> Checkpoint | None:
    """The registrant's checkpoint over the most events (its newest)."""
    found = await newest(session, registrant_id, 1)
    return found[0] if found else None
