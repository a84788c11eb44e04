"""Discrepancies and their transitions, as the API takes and shows them."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field

from app.catalog.names import LocationName, LotName, PatientName, ProductName, StaffName
from app.core.examples import example
from app.core.schemas import Day, FreeText, InputModel, OutputModel
from app.ledger.schemas import EventOut
from app.reconciliation.workflow import ReasonCode, Severity, Status


@dataclass(frozen=True, slots=True)
class DiscrepancyFilters:
    registrant_id: uuid.UUID | None = None
    status: Status | None = None
    severity: Severity | None = None
    rule: str | None = None
    product_id: uuid.UUID | None = None
    lot_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None
    """Whose work it is about."""
    assigned_to: uuid.UUID | None = None
    """Who works it."""
    found_from: datetime | None = None
    found_to: datetime | None = None


class TransitionCreate(InputModel):
    model_config = example({"to": "acknowledged", "note": "counting again with the pharmacist"})

    to: Status
    """Never ``cured``: only a run cures a finding."""
    reason_code: ReasonCode | None = None
    """Required to resolve."""
    note: FreeText | None = None
    """Required with the reason code ``other``."""
    notice_given_on: Day | None = None
    """To report a theft or significant loss: the day the written notice reached the DEA."""
    reported_on: Day | None = None
    """To report: the date DEA Form 106 was filed."""
    report_reference: Annotated[str | None, Field(min_length=1, max_length=100)] = None


class AssignmentCreate(InputModel):
    model_config = example({"staff_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"})

    staff_id: uuid.UUID | None
    """A member of staff of the discrepancy's registrant, whose work it is not about; null
    leaves it to nobody."""


class NoteCreate(InputModel):
    model_config = example({"text": "Called the pharmacist: the vial was recounted at 17:00."})

    text: FreeText


class AssignmentOut(OutputModel):
    id: uuid.UUID
    staff_id: uuid.UUID | None
    staff: StaffName | None = None
    by_subject: str
    by_name: str
    at: datetime


class NoteOut(OutputModel):
    id: uuid.UUID
    text: str
    by_subject: str
    by_name: str
    at: datetime


class TransitionOut(OutputModel):
    id: uuid.UUID
    version: int
    from_status: Status
    to_status: Status
    reason_code: ReasonCode | None
    note: str | None
    notice_given_on: date | None
    reported_on: date | None
    report_reference: str | None
    by_subject: str
    """A person's token subject, or ``urn:csledger:reconciliation`` for a run's move."""
    by_name: str
    at: datetime
    run_id: uuid.UUID | None
    """The run that moved it (cured, or open again), unless a person did."""


class DiscrepancyOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    rule: str
    severity: Severity
    status: Status
    summary: str
    details: dict[str, Any]
    event_ids: list[uuid.UUID]
    staff_ids: list[uuid.UUID]
    subjects: list[str]
    product_id: uuid.UUID | None
    location_id: uuid.UUID | None
    lot_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    session_id: uuid.UUID | None
    reportable: bool
    discovered_at: datetime | None
    notice_due_on: date | None
    """Theft or significant loss: written notice to the DEA, one business day after discovery."""
    form_106_due_on: date | None
    """DEA Form 106, 45 days after discovery."""
    notice_given_on: date | None
    reported_on: date | None
    report_reference: str | None
    reason_code: ReasonCode | None
    assigned_to: uuid.UUID | None
    """The member of staff working it now."""
    previous_id: uuid.UUID | None
    first_found_at: datetime
    last_found_at: datetime
    version: int
    created_at: datetime
    updated_at: datetime
    location: LocationName | None = None
    lot: LotName | None = None
    product: ProductName | None = None
    patient: PatientName | None = Field(
        default=None, description="Named only for a caller who may read patients"
    )
    staff: list[StaffName] = Field(default=[], description="The people of staff_ids, named")
    assignee: StaffName | None = Field(default=None, description="Who assigned_to names")


class DiscrepancyDetailOut(DiscrepancyOut):
    """The discrepancy with the ledger events behind it, every transition, every assignment
    and every note, oldest first."""

    events: list[EventOut]
    transitions: list[TransitionOut]
    assignments: list[AssignmentOut]
    notes: list[NoteOut]


class RunCreate(InputModel):
    model_config = example(
        {
            "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
            "first_day": "2026-03-01",
            "last_day": "2026-03-01",
        }
    )

    registrant_id: uuid.UUID
    first_day: Day
    last_day: Day
    """Inclusive; days on the registrant's clock."""


class RunOut(OutputModel):
    """A reconciliation run: a job the worker claims; ``result`` when it has finished."""

    id: uuid.UUID
    registrant_id: uuid.UUID
    first_day: date
    last_day: date
    requested_by: str
    status: str = Field(description="queued, running, succeeded or failed")
    attempts: int
    result: dict[str, Any] | None = Field(
        description="Findings per rule; the discrepancies opened, reopened (cured ones found "
        "again), updated and cured (whose condition no longer holds); duration_ms."
    )
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
