"""Compounding batches and the bulk lots each consumed (append-only: a batch is a record)."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, Quantity, UTCDateTime


class CompoundingBatch(Base):
    """One batch: the finished lot it made from its ingredients, who made and checked it."""

    __tablename__ = "compounding_batches"
    __table_args__ = (
        Index("ix_compounding_batches_registrant_id_created_at", "registrant_id", "created_at",
              "id"),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("locations.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"))
    finished_lot_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("lots.id"), unique=True)
    units: Mapped[Decimal] = mapped_column(Quantity())
    beyond_use_date: Mapped[date] = mapped_column(Date)
    compounded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    compounded_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    checked_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    mg_in_base: Mapped[Decimal] = mapped_column(Quantity())
    mg_out_base: Mapped[Decimal] = mapped_column(Quantity())
    yield_percent: Mapped[Decimal] = mapped_column(Quantity())
    yield_reason: Mapped[str | None] = mapped_column(Text)
    broken_rules: Mapped[list[str]] = mapped_column(JSON)
    produce_event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("ledger_events.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CompoundingIngredient(Base):
    """A bulk lot a batch consumed: how much, as mg of base, and the ledger event that took it."""

    __tablename__ = "compounding_ingredients"
    __table_args__ = (Index("ix_compounding_ingredients_lot_id", "lot_id"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("compounding_batches.id"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    lot_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("lots.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    mg_base: Mapped[Decimal] = mapped_column(Quantity())
    consume_event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("ledger_events.id"))
