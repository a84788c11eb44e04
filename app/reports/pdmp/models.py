"""Every PDMP file the service generated (append-only): what was sent, under which control
number, for which day."""

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class PdmpSubmission(Base):
    __tablename__ = "pdmp_submissions"
    __table_args__ = (UniqueConstraint("registrant_id", "control_number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    report_date: Mapped[date] = mapped_column(Date)
    control_number: Mapped[str] = mapped_column(String(9))
    """TH02 and TT01: the registrant's files numbered from 1, nine digits."""
    dispenses: Mapped[int]
    voids: Mapped[int]
    content: Mapped[str] = mapped_column(Text)
    detail_sha256: Mapped[str] = mapped_column(String(64))
    """What the file reports (profile, pharmacy, day, dispenses): the same day asked again
    with nothing changed returns this submission rather than sending it twice."""
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
