"""Every PDMP file submitted (append-only): what was sent, under which control number, for
which day, and which rejected file it corrects; and what the state answered about each
(append-only: a submission's history, from which its status follows)."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime

_ACCEPTED = text("outcome = 'accepted'")


class PdmpSubmission(Base):
    __tablename__ = "pdmp_submissions"
    __table_args__ = (
        UniqueConstraint("registrant_id", "control_number"),
        # A rejected file is corrected once; a correction rejected in turn is corrected by
        # the next, so a day's submissions form one chain.
        UniqueConstraint("corrects_submission_id"),
        Index("ix_pdmp_submissions_registrant_id_report_date", "registrant_id", "report_date"),
        Index("ix_pdmp_submissions_registrant_id_created_at", "registrant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    report_date: Mapped[date] = mapped_column(Date)
    control_number: Mapped[str] = mapped_column(String(9))
    """TH02 and TT01: the registrant's files numbered from 1, nine digits."""
    dispenses: Mapped[int]
    voids: Mapped[int]
    content: Mapped[str] = mapped_column(Text)
    """The file as sent: its bytes are this text in UTF-8."""
    content_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the file's bytes (hex), to check a copy against."""
    detail_sha256: Mapped[str] = mapped_column(String(64))
    """What the file reports (profile, pharmacy, day, dispenses), whatever its control number
    and time of creation."""
    corrects_submission_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("pdmp_submissions.id")
    )
    """The rejected submission of the same day this one corrects."""
    created_by: Mapped[str] = mapped_column(String(200))
    """The token subject who submitted it (``csledger pdmp`` for the command)."""
    created_by_name: Mapped[str | None] = mapped_column(String(200))
    """Their name; none for the files made before names were kept."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PdmpResponse(Base):
    """The state's answer to a submission: accepted, or rejected with its errors."""

    __tablename__ = "pdmp_responses"
    __table_args__ = (
        UniqueConstraint("submission_id", "number"),
        # The state accepts a file once.
        Index("uq_pdmp_responses_accepted_submission_id", "submission_id", unique=True,
              postgresql_where=_ACCEPTED, sqlite_where=_ACCEPTED),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    submission_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("pdmp_submissions.id"))
    number: Mapped[int]
    """Its place in the submission's history: 1, 2, ..."""
    outcome: Mapped[str] = mapped_column(String(20))
    """``accepted`` or ``rejected``."""
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """A rejection's errors as the state listed them (code, element, Rx number, message)."""
    state_reference: Mapped[str | None] = mapped_column(String(100))
    """The state's own identifier of the file or of its answer."""
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    """When the state's answer came."""
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_by_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
