"""An inventory and its count sheet (mutable while open; frozen once signed, when each
counted entry points at the count event it became, or voided, when nothing reached the
ledger). Every step of an inventory (started,
each count, witnessed, signed) keeps a version of it (app.core.revisions), so a recount
never hides the count it replaced."""

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, Quantity, UTCDateTime


class Inventory(Base):
    """One inventory of a registrant's locations as of an instant: who started it, the
    state it is in, who signed it and who witnessed it."""

    __tablename__ = "inventories"
    __table_args__ = (
        Index("ix_inventories_registrant_id_created_at", "registrant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    kind: Mapped[str] = mapped_column(String(20))
    """initial, biennial or ad_hoc (app.ledger.schemas.InventoryKind)."""
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    taken_at: Mapped[str] = mapped_column(String(30))
    """opening_of_business or close_of_business (21 CFR 1304.11(a))."""
    location_ids: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20))
    exact_required: Mapped[bool] = mapped_column(Boolean)
    """The registrant's state requires exact counts of every schedule (the setting
    ``inventory_exact_count_states``, read when the inventory started)."""
    started_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    """Who takes it, and so who signs it."""
    signed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("staff.id"))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    witness_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("staff.id"))
    witness_subject: Mapped[str | None] = mapped_column(String(200))
    """The token subject the witness signed with (their own)."""
    witnessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_by: Mapped[str | None] = mapped_column(String(200))
    """The token subject that voided it, if it was started in error."""
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InventoryEntry(Base):
    """One lot at one location on an inventory's count sheet: what the ledger held there at
    the inventory's instant and, once counted, what was found."""

    __tablename__ = "inventory_entries"
    __table_args__ = (UniqueConstraint("inventory_id", "location_id", "lot_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    inventory_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("inventories.id"))
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("locations.id"))
    lot_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("lots.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"))
    ledger_quantity: Mapped[Decimal] = mapped_column(Quantity())
    """What the ledger held at the place at the inventory's instant (refreshed on signing,
    as a late entry may change it)."""
    counted: Mapped[Decimal | None] = mapped_column(Quantity())
    exactness: Mapped[str | None] = mapped_column(String(20))
    counted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("staff.id"))
    counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("ledger_events.id"))
    """The count event the signed inventory wrote for this entry."""
