"""A session, what was given in it and the vital signs taken; stock moves only in the ledger."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, Quantity, UTCDateTime


class TreatmentSession(Base):
    """One visit of a patient under an in-clinic plan. Its state moves forward only, and every
    version is kept (revisions); its withdrawals, administrations, waste and returns are ledger
    events naming it, drawn through its holding (an ``in_use`` location of its own)."""

    __tablename__ = "treatment_sessions"
    __table_args__ = (
        Index(
            "ix_treatment_sessions_registrant_id_created_at", "registrant_id", "created_at", "id"
        ),
        Index("ix_treatment_sessions_plan_id_scheduled_at", "plan_id", "scheduled_at"),
        Index("ix_treatment_sessions_patient_id", "patient_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("treatment_plans.id"))
    modality: Mapped[str] = mapped_column(String(30))
    location_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("locations.id"))
    holding_location_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("locations.id"))
    staff_ids: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    weight_kg: Mapped[Decimal | None] = mapped_column(Quantity())
    expected_dose_mg: Mapped[Decimal] = mapped_column(Quantity())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_dose_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dosing_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(Text)
    clinical_stability: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    observations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    unresolved_mg: Mapped[Decimal | None] = mapped_column(Quantity())
    unresolved_reason: Mapped[str | None] = mapped_column(Text)
    rems_submitted_on: Mapped[date | None] = mapped_column(Date)
    rems_submission_reference: Mapped[str | None] = mapped_column(String(100))
    broken_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """Each step that broke a rule: the step, the rules, the override reason (none for a
    record), who and when."""
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionAdministration(Base):
    """What a session's administer event does not say: when an infusion ended, which device of
    the dose it was, and the rules its giving broke. Append-only."""

    __tablename__ = "session_administrations"
    __table_args__ = (Index("ix_session_administrations_session_id", "session_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("treatment_sessions.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("ledger_events.id"), unique=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("lots.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    mg: Mapped[Decimal] = mapped_column(Quantity())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    administered_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    broken_rules: Mapped[list[str]] = mapped_column(JSON)
    override_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionVitals(Base):
    """One reading of vital signs; beyond a clinic threshold it carries an alert. Append-only."""

    __tablename__ = "session_vitals"
    __table_args__ = (Index("ix_session_vitals_session_id", "session_id", "measured_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("treatment_sessions.id"))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    moment: Mapped[str] = mapped_column(String(20))
    systolic_mmhg: Mapped[int]
    diastolic_mmhg: Mapped[int]
    heart_rate_bpm: Mapped[int]
    spo2_percent: Mapped[int | None]
    alerts: Mapped[list[str]] = mapped_column(JSON)
    recorded_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionAuthorization(Base):
    """A prescriber's authorization, with their own token, of one step a clinician is about to
    take that breaks a session rule (docs/domain.md#override-authorization): the step of a
    session (an administration, a discharge) or of a plan (scheduling an extra session), the
    rules it may break, why, and the clinician who may take it. Used once: ``used_at`` and
    ``used_by`` are set by the step that used it, never again."""

    __tablename__ = "session_authorizations"
    __table_args__ = (
        Index(
            "ix_session_authorizations_registrant_id_authorized_at",
            "registrant_id",
            "authorized_at",
            "id",
        ),
        Index("ix_session_authorizations_session_id", "session_id"),
        Index("ix_session_authorizations_plan_id", "plan_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    step: Mapped[str] = mapped_column(String(20))
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("treatment_sessions.id"))
    plan_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("treatment_plans.id"))
    rules: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    performer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    """The clinician who may take the step (never the authorizer)."""
    authorizer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    authorized_by: Mapped[str] = mapped_column(String(200))
    """The authorizer's token subject."""
    authorized_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by: Mapped[str | None] = mapped_column(String(200))
