"""Registrants and what belongs to them: locations, staff (with DEA registrations), patients."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, Quantity, UTCDateTime


class Registrant(Base):
    """A DEA registrant (one registered location): a ketamine clinic or a pharmacy."""

    __tablename__ = "registrants"
    __table_args__ = (Index("ix_registrants_created_at", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    dea_number: Mapped[str] = mapped_column(String(9), unique=True)
    schedules: Mapped[list[str]] = mapped_column(JSON)
    registration_expires_on: Mapped[date] = mapped_column(Date)
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    holidays: Mapped[list[str]] = mapped_column(JSON)
    npi: Mapped[str | None] = mapped_column(String(10))
    ncpdp: Mapped[str | None] = mapped_column(String(7))
    rems_certification_id: Mapped[str | None] = mapped_column(String(50))
    rems_certification_status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


LOCATION_NAME_LENGTH = 100
"""The longest a location's name may be (a session's holding is named after its room)."""


class Location(Base):
    """A place where stock is kept: a vault, a cabinet, a procedure room, a session's holding."""

    __tablename__ = "locations"
    __table_args__ = (
        UniqueConstraint("registrant_id", "name"),
        Index("ix_locations_registrant_id_created_at", "registrant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    name: Mapped[str] = mapped_column(String(LOCATION_NAME_LENGTH))
    kind: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_id: Mapped[uuid.UUID | None]
    """The session an ``in_use`` holding belongs to (sessions live above the registry)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Staff(Base):
    """A person working for a registrant; ``subject`` links them to their token."""

    __tablename__ = "staff"
    __table_args__ = (
        UniqueConstraint("registrant_id", "subject"),
        Index("ix_staff_registrant_id_created_at", "registrant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))
    subject: Mapped[str | None] = mapped_column(String(200))
    npi: Mapped[str | None] = mapped_column(String(10))
    state_license: Mapped[str | None] = mapped_column(String(50))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StaffRegistration(Base):
    """A prescriber's own DEA registration. Renewals are new rows; none is changed."""

    __tablename__ = "staff_registrations"
    __table_args__ = (
        Index("ix_staff_registrations_staff_id_expires_on", "staff_id", "expires_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    staff_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    dea_number: Mapped[str] = mapped_column(String(9), index=True)
    schedules: Mapped[list[str]] = mapped_column(JSON)
    expires_on: Mapped[date] = mapped_column(Date)
    state: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class Patient(Base):
    """A patient of one registrant. Every change keeps the previous version (revisions)."""

    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("registrant_id", "external_id"),
        Index("ix_patients_registrant_id_created_at", "registrant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(10))
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    weight_kg: Mapped[Decimal | None] = mapped_column(Quantity())
    rems_enrollment_id: Mapped[str | None] = mapped_column(String(50))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
