"""The ledger's tables.

Append-only (triggers refuse UPDATE, DELETE, TRUNCATE): events, their postings (the signed
stock change per location and lot) and witness confirmations. Mutable, derived from them in
the same transaction: each registrant's chain head and the current balances.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, Quantity, UTCDateTime

GENESIS_HASH = "0" * 64


class LedgerEvent(Base):
    __tablename__ = "ledger_events"
    __table_args__ = (
        Index("uq_ledger_events_registrant_id_sequence", "registrant_id", "sequence", unique=True),
        Index("ix_ledger_events_registrant_id_occurred_at", "registrant_id", "occurred_at"),
        Index("ix_ledger_events_registrant_id_type", "registrant_id", "type", "occurred_at"),
        Index("uq_ledger_events_reverses_event_id", "reverses_event_id", unique=True),
        Index("uq_ledger_events_transfer_event_id", "transfer_event_id", unique=True),
        Index("ix_ledger_events_lot_id", "lot_id"),
        Index("ix_ledger_events_patient_id", "patient_id"),
        # Most events belong to no session: only those that do are indexed.
        Index(
            "ix_ledger_events_session_id",
            "session_id",
            postgresql_where=text("session_id IS NOT NULL"),
            sqlite_where=text("session_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(20))
    location_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("locations.id"))
    to_location_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("locations.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"))
    lot_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("lots.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    mg: Mapped[Decimal] = mapped_column(Quantity())
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    performed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("staff.id"))
    witness_ids: Mapped[list[str]] = mapped_column(JSON)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("patients.id"))
    session_id: Mapped[uuid.UUID | None]
    prescription_id: Mapped[uuid.UUID | None]
    batch_id: Mapped[uuid.UUID | None]
    counterparty: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    document_reference: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What only some types carry: loss discovery, destruction, count, adjust direction."""
    reverses_event_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("ledger_events.id")
    )
    transfer_event_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("ledger_events.id")
    )
    """On a transfer_in: the sender's transfer_out it receives."""
    is_record: Mapped[bool] = mapped_column(Boolean)
    """A fact reported after it happened (integration or late entry), never refused for
    compliance; False for an instruction given now."""
    broken_rules: Mapped[list[str]] = mapped_column(JSON)
    override_reason: Mapped[str | None] = mapped_column(Text)
    principal_subject: Mapped[str] = mapped_column(String(200))
    principal_name: Mapped[str] = mapped_column(String(200))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The DEA-record facts as of this event, so later edits of reference data change nothing."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Posting(Base):
    """The signed change one event made to one (location, lot): what balances are sums of."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        Index(
            "ix_ledger_postings_registrant_id_occurred_at",
            "registrant_id",
            "occurred_at",
            "location_id",
            "lot_id",
        ),
        # A place's balance at an instant read from the index alone (delta is in it).
        Index(
            "ix_ledger_postings_place_occurred_at", "location_id", "lot_id", "occurred_at", "delta"
        ),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("ledger_events.id"), primary_key=True
    )
    location_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("locations.id"), primary_key=True
    )
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    lot_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("lots.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"))
    delta: Mapped[Decimal] = mapped_column(Quantity())
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Balance(Base):
    """Stock on hand now per (location, lot); never below zero."""

    __tablename__ = "ledger_balances"

    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("locations.id"), primary_key=True
    )
    lot_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("lots.id"), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())


class ChainHead(Base):
    """The last event of a registrant's chain: appends lock this row, one at a time.

    It also keeps the hashes of its Merkle tree's peaks (``merkle.peaks(sequence)``, largest
    first), copies of stored nodes: all an append needs to extend the tree, read with the lock
    instead of in a query of their own."""

    __tablename__ = "ledger_heads"

    registrant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("registrants.id"), primary_key=True
    )
    sequence: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    peaks: Mapped[list[str]] = mapped_column(JSON, server_default=text("'[]'"))


class WitnessConfirmation(Base):
    """A witness confirming, with their own token, what they saw."""

    __tablename__ = "ledger_witness_confirmations"

    event_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("ledger_events.id"), primary_key=True
    )
    staff_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"), primary_key=True)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    subject: Mapped[str] = mapped_column(String(200))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime())
