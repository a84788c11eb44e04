"""PDMP submissions, the state's responses and the days still to report, as the API takes and
shows them."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from app.core.examples import example
from app.core.schemas import Day, FreeText, InputModel, Instant, OutputModel


class PdmpResponseOutcome(StrEnum):
    accepted = "accepted"
    rejected = "rejected"


class PdmpSubmissionStatus(StrEnum):
    """A submission's status, which follows from the state's responses to it."""

    awaiting_response = "awaiting_response"
    accepted = "accepted"
    rejected = "rejected"


class PdmpDayStatus(StrEnum):
    """Where a day stands that the state has not accepted a file of."""

    not_submitted = "not_submitted"
    awaiting_response = "awaiting_response"
    rejected = "rejected"


class PdmpSubmissionCreate(InputModel):
    model_config = example({
        "registrant_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "report_date": "2026-03-02",
    })  # fmt: skip

    registrant_id: uuid.UUID
    report_date: Annotated[Day, Field(description="The pharmacy's day to report (ended).")]
    corrects_submission_id: uuid.UUID | None = Field(
        default=None,
        description="The day's rejected submission this one corrects: required once the "
        "state has rejected the day's file.",
    )


class PdmpResponseError(InputModel):
    """One error the state listed, as it listed it."""

    message: FreeText
    code: Annotated[str | None, Field(min_length=1, max_length=40)] = None
    """The state's code for the error."""
    element: Annotated[str | None, Field(pattern=r"^[A-Z]{2,3}[0-9]{2}$")] = Field(
        default=None, examples=["DSP05"], description="The ASAP element at fault."
    )
    rx_number: Annotated[str | None, Field(min_length=1, max_length=50)] = None
    """The record at fault, by its prescription number (DSP02)."""


class PdmpResponseCreate(InputModel):
    model_config = example({
        "outcome": "rejected", "state_reference": "TX-PMP-20260303-0042",
        "errors": [{"message": "Date filled is after the file's creation date",
                    "code": "E104", "element": "DSP05", "rx_number": "RX-260101"}],
    })  # fmt: skip

    outcome: PdmpResponseOutcome
    errors: Annotated[list[PdmpResponseError], Field(max_length=1000)] = []
    """Required to record a rejection; an acceptance carries none."""
    received_at: Instant | None = Field(
        default=None, description="When the state's response came; by default, now."
    )
    state_reference: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    """The state's identifier of the file or of its response."""
    note: FreeText | None = None


class PdmpResponseErrorOut(OutputModel):
    message: str
    code: str | None = None
    element: str | None = None
    rx_number: str | None = None


class PdmpResponseOut(OutputModel):
    id: uuid.UUID
    number: int
    """Its place in the submission's history: 1, 2, ..."""
    outcome: PdmpResponseOutcome
    errors: list[PdmpResponseErrorOut]
    received_at: datetime
    state_reference: str | None
    note: str | None
    recorded_by: str
    recorded_by_name: str
    created_at: datetime


class PdmpSubmissionOut(OutputModel):
    """A file submitted to the state: its control number, the SHA-256 of its bytes (served at
    ``file_url``), what the state answered and which submission it corrects or was corrected
    by."""

    id: uuid.UUID
    registrant_id: uuid.UUID
    report_date: date
    control_number: str
    status: PdmpSubmissionStatus
    dispenses: int
    voids: int
    file_url: str
    content_sha256: str
    corrects_submission_id: uuid.UUID | None
    corrected_by_submission_id: uuid.UUID | None
    responses: list[PdmpResponseOut]
    created_by: str
    created_by_name: str | None
    created_at: datetime


class PdmpOutstandingDay(OutputModel):
    date: date
    status: PdmpDayStatus
    submission_id: uuid.UUID | None
    """The day's latest submission, if it has one."""


class PdmpOutstandingDaysOut(OutputModel):
    """The days to report (business days, and any day with a fill or a reversal of one) from
    ``from`` to ``to`` that the state has not accepted a file of, oldest first."""

    registrant_id: uuid.UUID
    first_day: date | None = Field(serialization_alias="from")
    last_day: date = Field(serialization_alias="to")
    days: list[PdmpOutstandingDay]
