"""Evaluations (append-only: a new evaluation corrects an old one) and treatment plans."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, Quantity, UTCDateTime


class Evaluation(Base):
    """A prescriber's evaluation of a patient for ketamine or esketamine treatment."""

    __tablename__ = "evaluations"
    __table_args__ = (
        Index("ix_evaluations_registrant_id_created_at", "registrant_id", "created_at", "id"),
        Index("ix_evaluations_patient_id_evaluated_on", "patient_id", "evaluated_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    prescriber_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    evaluated_on: Mapped[date] = mapped_column(Date)
    in_person: Mapped[bool] = mapped_column(Boolean)
    prior_treatments: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    contraindications: Mapped[dict[str, bool]] = mapped_column(JSON)
    vitals: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(20))
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    broken_rules: Mapped[list[str]] = mapped_column(JSON)
    override_reason: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TreatmentPlan(Base):
    """What a prescriber plans for a patient; its status changes keep every version."""

    __tablename__ = "treatment_plans"
    __table_args__ = (
        Index("ix_treatment_plans_registrant_id_created_at", "registrant_id", "created_at", "id"),
        Index("ix_treatment_plans_patient_id_status", "patient_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    prescriber_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("staff.id"))
    evaluation_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("evaluations.id"))
    modality: Mapped[str] = mapped_column(String(30))
    dose_mg_per_kg: Mapped[Decimal | None] = mapped_column(Quantity())
    dose_mg: Mapped[Decimal | None] = mapped_column(Quantity())
    mg_per_unit: Mapped[Decimal | None] = mapped_column(Quantity())
    units_per_dose: Mapped[Decimal | None] = mapped_column(Quantity())
    sessions_per_week: Mapped[int]
    total_sessions: Mapped[int]
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str | None] = mapped_column(Text)
    broken_rules: Mapped[list[str]] = mapped_column(JSON)
    override_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
