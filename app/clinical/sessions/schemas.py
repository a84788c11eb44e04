"""Sessions as the API takes and shows them."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from app.catalog.names import LocationName, LotName, PatientName, StaffName
from app.clinical.schemas import Modality, VitalSigns
from app.clinical.sessions.authorization_schemas import Overridable
from app.clinical.sessions.monitoring import MonitoringFormOut
from app.clinical.sessions.types import SessionStatus
from app.core.examples import example
from app.core.schemas import (
    Day,
    FreeText,
    InputModel,
    Instant,
    OutputModel,
    PositiveQuantity,
    Quantity,
)
from app.ledger.schemas import WitnessStatus

Performer = Annotated[
    uuid.UUID | None,
    Field(description="Staff id; only integrations name someone else (and must name someone)."),
]


class VitalsMoment(StrEnum):
    pre_dose = "pre_dose"
    post_dose = "post_dose"
    """During monitoring after dosing; the one nearest 40 minutes after the first device is the
    Patient Monitoring Form's."""
    monitoring = "monitoring"
    pre_discharge = "pre_discharge"


class SessionCreate(Overridable):
    model_config = example(
        {
            "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
            "patient_id": "3fa0b4c5-6d7e-4f80-9b92-ad1e2f3a4b55",
            "plan_id": "e45b6f70-7889-4a3b-a64d-58c3d4e5f600",
            "location_id": "1d8e2f3a-4b5c-4d6e-9f70-8b9c0d1e2f33",
            "scheduled_at": "2026-03-02T09:00:00-06:00",
            "staff_ids": [
                "5bc2d6e7-8f90-41a2-9db4-cf3a4b5c6d77",
                "6cd3e7f8-9001-42b3-8ec5-d04b5c6d7e88",
            ],
            "weight_kg": "70",
        }
    )

    registrant_id: uuid.UUID
    patient_id: uuid.UUID
    plan_id: uuid.UUID
    """The patient's active IV or esketamine plan."""
    location_id: uuid.UUID
    """Where the session takes place (a procedure room)."""
    scheduled_at: Instant
    staff_ids: list[uuid.UUID] = Field(min_length=1, max_length=10)
    """The staff present."""
    weight_kg: PositiveQuantity | None = Field(default=None, examples=["70"])
    """The weight recorded that day: an IV dose follows from it (required for IV)."""


class WithdrawalCreate(InputModel):
    """Stock taken from storage into the session's holding: a ledger ``move``."""

    model_config = example(
        {
            "from_location_id": "0c7d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e22",
            "lot_id": "a0172b3c-3445-46f7-a209-148f90a1b2cc",
            "quantity": "10",
            "occurred_at": "2026-03-02T09:25:00-06:00",
        }
    )

    lot_id: uuid.UUID
    from_location_id: uuid.UUID
    quantity: PositiveQuantity
    occurred_at: Instant
    performed_by: Performer = None


class AdministrationCreate(Overridable):
    """Given to the patient from the holding: a ledger ``administer``. ``quantity`` is in the
    product's unit (mL of an injection, one esketamine device)."""

    model_config = example(
        {
            "lot_id": "a0172b3c-3445-46f7-a209-148f90a1b2cc",
            "quantity": "0.7",
            "started_at": "2026-03-02T09:30:00-06:00",
            "ended_at": "2026-03-02T10:10:00-06:00",
        }
    )

    lot_id: uuid.UUID
    quantity: PositiveQuantity
    started_at: Instant
    ended_at: Instant | None = None
    """When an infusion ended (IV); the session then moves to observing."""
    performed_by: Performer = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> "AdministrationCreate":
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class WasteCreate(InputModel):
    """The unused remainder, destroyed in front of a witness who then confirms with their own
    token (``POST /v1/sessions/{id}/witness-confirmations``)."""

    model_config = example(
        {
            "lot_id": "a0172b3c-3445-46f7-a209-148f90a1b2cc",
            "quantity": "9.3",
            "occurred_at": "2026-03-02T10:15:00-06:00",
            "witness_id": "6cd3e7f8-9001-42b3-8ec5-d04b5c6d7e88",
            "reason": "remainder of the vial after the infusion",
        }
    )

    lot_id: uuid.UUID
    quantity: PositiveQuantity
    occurred_at: Instant
    witness_id: uuid.UUID
    reason: FreeText | None = None
    performed_by: Performer = None


class ReturnCreate(InputModel):
    """Unused, intact stock going back from the holding to storage."""

    model_config = example(
        {
            "lot_id": "a0172b3c-3445-46f7-a209-148f90a1b2cc",
            "quantity": "10",
            "occurred_at": "2026-03-02T10:20:00-06:00",
            "to_location_id": "0c7d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e22",
        }
    )

    lot_id: uuid.UUID
    quantity: PositiveQuantity
    to_location_id: uuid.UUID
    occurred_at: Instant
    performed_by: Performer = None


class VitalsCreate(VitalSigns):
    model_config = example(
        {
            "measured_at": "2026-03-02T09:20:00-06:00",
            "moment": "pre_dose",
            "systolic_mmhg": 128,
            "diastolic_mmhg": 82,
            "heart_rate_bpm": 74,
            "spo2_percent": 98,
        }
    )

    measured_at: Instant
    moment: VitalsMoment
    recorded_by: Performer = None


class ClinicalStability(InputModel):
    stable: bool
    assessed_at: Instant
    note: FreeText | None = None


class ClinicalStabilityOut(OutputModel):
    """:class:`ClinicalStability` as served."""

    stable: bool
    assessed_at: datetime
    note: str | None = None


class Observations(InputModel):
    """What the Patient Monitoring Form asks was observed during the session."""

    sedation: bool
    dissociation: bool
    respiratory_depression: bool
    serious_adverse_events: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default=[], max_length=20
    )


class DischargeCreate(Overridable):
    model_config = example(
        {
            "discharged_at": "2026-03-02T11:45:00-06:00",
            "clinical_stability": {"stable": True, "assessed_at": "2026-03-02T11:40:00-06:00"},
            "observations": {
                "sedation": False,
                "dissociation": True,
                "respiratory_depression": False,
            },
        }
    )

    discharged_at: Instant
    clinical_stability: ClinicalStability | None = None
    """Required for esketamine."""
    observations: Observations | None = None
    """Required for esketamine."""
    unresolved_reason: FreeText | None = None
    """Why stock is left in the holding, if any is (reconciliation flags it)."""


class AbortCreate(InputModel):
    model_config = example(
        {
            "aborted_at": "2026-03-02T09:10:00-06:00",
            "reason": "blood pressure too high to dose today",
        }
    )

    aborted_at: Instant
    reason: FreeText
    unresolved_reason: FreeText | None = None


class RemsSubmissionCreate(InputModel):
    model_config = example({"submitted_on": "2026-03-04", "reference": "PMF-55812"})

    submitted_on: Day
    reference: Annotated[str | None, Field(max_length=100)] = None


class WitnessConfirmationCreate(InputModel):
    model_config = example({"event_id": "067d8192-9aab-4c5d-886f-7ae5f6071822"})

    event_id: uuid.UUID


class AccountingOut(OutputModel):
    """Where what was withdrawn went, in mg: withdrawn = administered + wasted + returned +
    on hand (what is still in the holding)."""

    withdrawn_mg: Quantity
    administered_mg: Quantity
    wasted_mg: Quantity
    returned_mg: Quantity
    on_hand_mg: Quantity
    balanced: bool


class SessionEventOut(OutputModel):
    """One of the session's ledger events (the whole event: ``GET /v1/ledger/events/{id}``)."""

    id: uuid.UUID
    type: str
    lot_id: uuid.UUID
    quantity: Quantity
    mg: Quantity
    occurred_at: datetime
    performed_by: uuid.UUID | None
    witness_ids: list[uuid.UUID]
    witness_status: WitnessStatus
    reverses_event_id: uuid.UUID | None
    broken_rules: list[str]
    lot: LotName | None = None
    performer: StaffName | None = None


class AdministrationOut(OutputModel):
    id: uuid.UUID
    event_id: uuid.UUID
    lot_id: uuid.UUID
    quantity: Quantity
    mg: Quantity
    started_at: datetime
    ended_at: datetime | None
    administered_by: uuid.UUID
    broken_rules: list[str]
    override_reason: str | None


class VitalsOut(OutputModel):
    id: uuid.UUID
    session_id: uuid.UUID
    measured_at: datetime
    moment: VitalsMoment
    systolic_mmhg: int
    diastolic_mmhg: int
    heart_rate_bpm: int
    spo2_percent: int | None
    alerts: list[str]
    recorded_by: uuid.UUID
    created_at: datetime


class BrokenRuleOut(OutputModel):
    """A step that broke session rules: a record, kept with what it broke, or an instruction
    overridden. ``by`` took the step; an override names who authorized it (the prescriber who
    took it, or the one whose authorization the clinician used)."""

    step: str
    rules: list[str]
    override_reason: str | None
    record: bool
    by: str
    at: datetime
    authorization_id: uuid.UUID | None = Field(
        default=None, description="The prescriber's authorization the clinician used"
    )
    authorized_by: str | None = Field(
        default=None, description="The token subject of the prescriber who authorized it"
    )
    authorized_at: datetime | None = None
    performer_id: uuid.UUID | None = Field(default=None, description="Staff id of `by`")
    authorizer_id: uuid.UUID | None = Field(default=None, description="Staff id of `authorized_by`")
    performer: StaffName | None = None
    authorizer: StaffName | None = None


class SessionRecordOut(OutputModel):
    """The session's own row: what each version in its history holds."""

    id: uuid.UUID
    registrant_id: uuid.UUID
    patient_id: uuid.UUID
    plan_id: uuid.UUID
    modality: Modality
    location_id: uuid.UUID
    holding_location_id: uuid.UUID
    staff_ids: list[uuid.UUID]
    status: SessionStatus
    scheduled_at: datetime
    weight_kg: Quantity | None
    expected_dose_mg: Quantity
    started_at: datetime | None
    first_dose_at: datetime | None
    dosing_ended_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    clinical_stability: ClinicalStabilityOut | None
    observations: Observations | None
    unresolved_mg: Quantity | None
    unresolved_reason: str | None
    broken_rules: list[BrokenRuleOut]
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime
    rems_submitted_on: date | None
    rems_submission_reference: str | None


class SessionListedOut(SessionRecordOut):
    """The session's record with the names of its room, patient and staff."""

    room: LocationName | None = Field(default=None, description="Where it takes place")
    patient: PatientName | None = None
    staff: list[StaffName] = Field(default=[], description="The people of staff_ids, named")


class SessionOut(SessionListedOut):
    """The session with what its steps did: ledger events, administrations, vitals, where the
    withdrawn stock went and, for esketamine, the Patient Monitoring Form."""

    accounting: AccountingOut
    events: list[SessionEventOut]
    administrations: list[AdministrationOut]
    vitals: list[VitalsOut]
    monitoring_form: MonitoringFormOut | None = Field(
        description="Esketamine sessions only: the REMS Patient Monitoring Form's data."
    )


class SessionStepOut(OutputModel):
    """A step that moved stock: its ledger event, and the session after it."""

    event: SessionEventOut
    session: SessionOut
