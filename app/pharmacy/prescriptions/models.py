"""Prescriptions (as received, with the prescriber as given) and their fills."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, Quantity, UTCDateTime


class Prescription(Base):
    """A prescription the pharmacy received through a lawful channel (21 CFR 1306.05 content).
    Its status changes keep every version (revisions); its fills are dispense events."""

    __tablename__ = "prescriptions"
    __table_args__ = (
        UniqueConstraint("registrant_id", "rx_number"),
        Index("ix_prescriptions_registrant_id_created_at", "registrant_id", "created_at", "id"),
        Index("ix_prescriptions_prescriber_dea_number", "prescriber_dea_number"),
        Index("ix_prescriptions_patient_id", "patient_id"),
        Index("ix_prescriptions_issuer_registrant_id", "issuer_registrant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    rx_number: Mapped[str] = mapped_column(String(30))
    transmission: Mapped[str] = mapped_column(String(20))
    external_rx_id: Mapped[str | None] = mapped_column(String(100))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    directions: Mapped[str] = mapped_column(Text)
    issued_on: Mapped[date] = mapped_column(Date)
    refills_authorized: Mapped[int]
    days_supply: Mapped[int]
    encounter: Mapped[str] = mapped_column(String(30))
    in_person_evaluation_on: Mapped[date | None] = mapped_column(Date)
    prescriber: Mapped[dict[str, Any]] = mapped_column(JSON)
    """As written: name, address, DEA number with its schedules and expiry, NPI."""
    prescriber_dea_number: Mapped[str] = mapped_column(String(9))
    """The prescriber's DEA number again, indexed, to find prescriptions by prescriber."""
    issuer_registrant_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("registrants.id")
    )
    """The issuing clinic's registrant, as the pharmacy (the owner) linked it: it may read the
    prescription and its fills. Nothing the clinic writes itself opens that view."""
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str | None] = mapped_column(Text)
    broken_rules: Mapped[list[str]] = mapped_column(JSON)
    is_record: Mapped[bool]
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PrescriptionFill(Base):
    """One dispensing of a prescription (the original, a refill or a partial fill): what the
    dispense event does not say. Append-only; a fill entered in error is reversed in the
    ledger, and then counts for nothing."""

    __tablename__ = "prescription_fills"
    __table_args__ = (Index("ix_prescription_fills_prescription_id", "prescription_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    prescription_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("prescriptions.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("ledger_events.id"), unique=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("lots.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    filled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refill_number: Mapped[int]
    """0 for the original; a partial fill carries the number of the filling it is part of."""
    partial: Mapped[bool]
    dispensed_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    early_refill_reason: Mapped[str | None] = mapped_column(Text)
    broken_rules: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
