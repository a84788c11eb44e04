"""What FHIR senders are allowed to do, and every resource they sent."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class FhirSender(Base):
    """An integration (by its token subject) configured at one registrant: the scopes it is
    granted there (least privilege: nothing its configuration does not grant), and the
    location its FHIR administrations outside a session and its dispenses draw from. Every
    version is kept (revisions)."""

    __tablename__ = "fhir_senders"
    __table_args__ = (
        UniqueConstraint("registrant_id", "subject"),
        Index("ix_fhir_senders_registrant_id_created_at", "registrant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    subject: Mapped[str] = mapped_column(String(200))
    location_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("locations.id"))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    """IntegrationScope values (app/auth/permissions.py), sorted."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FhirResource(Base):
    """One resource a sender sent, as last received (without ``id`` and ``meta``), and what it
    became. Unique per registrant, sender, type and business identifier, so a resource sent
    twice, even at once, is stored and moves stock once. Status changes keep every version
    (revisions)."""

    __tablename__ = "fhir_resources"
    __table_args__ = (
        UniqueConstraint(
            "registrant_id",
            "sender",
            "resource_type",
            "identifier_system",
            "identifier_value",
            name="uq_fhir_resources_sender_identifier",
        ),  # named: the conventional name passes PostgreSQL's 63 characters
        Index("ix_fhir_resources_registrant_id_created_at", "registrant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    sender: Mapped[str] = mapped_column(String(200))
    resource_type: Mapped[str] = mapped_column(String(40))
    identifier_system: Mapped[str] = mapped_column(String(255))
    identifier_value: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30))
    digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the resource's canonical JSON: a repeat with the same content is a retry."""
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_ids: Mapped[list[str]] = mapped_column(JSON)
    """The ledger events it made (administer or dispense), in order."""
    reversal_event_ids: Mapped[list[str]] = mapped_column(JSON)
    """The reversals of those events, once it was entered in error."""
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("treatment_sessions.id"))
    session_administration_ids: Mapped[list[str]] = mapped_column(JSON)
    prescription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("prescriptions.id"))
    fill_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("prescription_fills.id"))
    broken_rules: Mapped[list[str]] = mapped_column(JSON)
    """The rules of this mapping it broke (no matching withdrawal or prescription), stored
    and flagged; the ledger's and the workflows' own rules are on their rows."""
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("products.id"))
    """The product its medication names (by NDC, compound code or the sender's mapping)."""
    lot_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("lots.id"))
    """The lot it moved stock from."""
    lot_source: Mapped[str | None] = mapped_column(String(20))
    """Who told the lot (records.LotSource): the resource, the stock on hand (the only lot of
    the product there), or a compliance officer."""
    unposted_because: Mapped[str | None] = mapped_column(String(30))
    """Why a resource that says stock moved has not moved it yet (records.Unposted): kept,
    with a discrepancy, until an officer assigns its lot or maps its product code."""
    unposted_detail: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FhirCodeMapping(Base):
    """A sender's own medication code (a code system of its EHR) and the registrant's product it
    names. A mapping is never changed: records posted under it stay posted as they were."""

    __tablename__ = "fhir_code_mappings"
    __table_args__ = (
        UniqueConstraint("sender_id", "system", "code"),
        Index(
            "ix_fhir_code_mappings_registrant_id_created_at", "registrant_id", "created_at", "id"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    sender_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("fhir_senders.id"))
    system: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
