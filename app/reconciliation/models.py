"""Discrepancies (mutable: status, findings and assignee move, every version kept through
transitions and assignments), their transitions (append-only: who moved what, when, and
why), their assignments (append-only: who gave whom the case, when) and their notes
(append-only: who wrote what, when)."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime

_OPEN = text("status NOT IN ('resolved', 'reported')")


class Discrepancy(Base):
    """Something that does not add up, found by a rule; ``fingerprint`` names the finding, so
    finding it again updates the discrepancy still open rather than opening another."""

    __tablename__ = "discrepancies"
    __table_args__ = (
        Index("ix_discrepancies_registrant_id_created_at", "registrant_id", "created_at", "id"),
        Index("ix_discrepancies_registrant_id_status", "registrant_id", "status"),
        Index("ix_discrepancies_registrant_id_assigned_to", "registrant_id", "assigned_to"),
        # At most one discrepancy per finding that no person has closed: open, acknowledged,
        # unable to reconcile, or cured (which its finding reopens when it comes back).
        Index("uq_discrepancies_open_fingerprint", "registrant_id", "fingerprint", unique=True,
              postgresql_where=_OPEN, sqlite_where=_OPEN),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    rule: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30))
    fingerprint: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_ids: Mapped[list[str]] = mapped_column(JSON)
    staff_ids: Mapped[list[str]] = mapped_column(JSON)
    subjects: Mapped[list[str]] = mapped_column(JSON)
    """Whose work it is about, as staff members and as token subjects (who recorded it):
    none of them may move it."""
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("products.id"))
    location_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("locations.id"))
    lot_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("lots.id"))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("patients.id"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("treatment_sessions.id"))
    reportable: Mapped[bool] = mapped_column(Boolean)
    """A theft or significant loss: reported to the DEA, on the clocks below."""
    discovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notice_due_on: Mapped[date | None] = mapped_column(Date)
    form_106_due_on: Mapped[date | None] = mapped_column(Date)
    notice_given_on: Mapped[date | None] = mapped_column(Date)
    """When the written notice reached the DEA field office."""
    reported_on: Mapped[date | None] = mapped_column(Date)
    report_reference: Mapped[str | None] = mapped_column(String(100))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("staff.id"))
    """The member of staff working it now (its last assignment's)."""
    previous_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("discrepancies.id"))
    """The closed discrepancy this one is a recurrence of."""
    first_found_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_found_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def name_more(
        self, about: Any, event_ids: Sequence[object], staff_ids: Sequence[object],
        subjects: Sequence[str],
    ) -> None:  # fmt: skip
        """Found again, the finding adds what it names now to what it named (a pattern grows
        by an event; one opened before findings had subject fields gains them, from
        ``about``, its findings.Subject). Nothing is taken away: whoever's work it was still
        may not close it."""
        for field in SUBJECT_FIELDS:
            if getattr(self, field) is None:
                setattr(self, field, getattr(about, field))
        self.event_ids = _joined(self.event_ids, event_ids)
        self.staff_ids = _joined(self.staff_ids, staff_ids)
        self.subjects = _joined(self.subjects, subjects)


SUBJECT_FIELDS = ("location_id", "lot_id", "product_id", "patient_id", "session_id")
"""A discrepancy's subject, as fields (app.reconciliation.findings.Subject)."""


def _joined(kept: list[str], more: Sequence[object]) -> list[str]:
    return kept + [text for text in dict.fromkeys(map(str, more)) if text not in kept]


class DiscrepancyTransition(Base):
    __tablename__ = "discrepancy_transitions"
    __table_args__ = (UniqueConstraint("discrepancy_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    discrepancy_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("discrepancies.id"))
    version: Mapped[int]
    """The discrepancy's version this transition made: their order, one transition each."""
    from_status: Mapped[str] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    notice_given_on: Mapped[date | None] = mapped_column(Date)
    reported_on: Mapped[date | None] = mapped_column(Date)
    report_reference: Mapped[str | None] = mapped_column(String(100))
    by_subject: Mapped[str] = mapped_column(String(200))
    by_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """The reconciliation run that made the move (cured, or open again): its job's id
    (``GET /v1/reconciliation/runs/{id}``); none for a person's move, or for a run of
    ``csledger reconcile``, which is no job."""


class DiscrepancyAssignment(Base):
    """A discrepancy given to a member of staff (or to nobody: ``staff_id`` none), by whom and
    when; the last one is who works it now (``Discrepancy.assigned_to``)."""

    __tablename__ = "discrepancy_assignments"
    __table_args__ = (UniqueConstraint("discrepancy_id", "sequence"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    discrepancy_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("discrepancies.id"))
    sequence: Mapped[int]
    """Its place among the discrepancy's assignments: 1, 2, ..."""
    staff_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("staff.id"))
    by_subject: Mapped[str] = mapped_column(String(200))
    by_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class DiscrepancyNote(Base):
    """What a person wrote on a case: kept as written, never changed nor taken away."""

    __tablename__ = "discrepancy_notes"
    __table_args__ = (UniqueConstraint("discrepancy_id", "sequence"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    discrepancy_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("discrepancies.id"))
    sequence: Mapped[int]
    """Its place among the discrepancy's notes: 1, 2, ..."""
    text: Mapped[str] = mapped_column(Text)
    by_subject: Mapped[str] = mapped_column(String(200))
    by_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
