"""Prescriptions and fills, as the API takes and shows them."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, model_validator

from app.catalog.names import LotName, PatientName, ProductName, StaffName
from app.core.examples import example
from app.core.schemas import (
    Address,
    Day,
    DeaNumber,
    FreeText,
    InputModel,
    Instant,
    Name,
    Npi,
    OutputModel,
    PositiveQuantity,
    Quantity,
)
from app.pharmacy.prescriptions.rules import MAX_REFILLS
from app.registry.schemas import Schedules


class Transmission(StrEnum):
    electronic = "electronic"
    written = "written"
    oral = "oral"
    fax = "fax"


class Encounter(StrEnum):
    """How the prescriber saw the patient for this prescription."""

    in_person = "in_person"
    telehealth_audio_video = "telehealth_audio_video"


class PrescriptionStatus(StrEnum):
    active = "active"
    cancelled = "cancelled"


class PrescriberAsGiven(InputModel):
    """The prescriber as the prescription names them (1306.05): the pharmacy keeps it as
    written, whoever employs them."""

    name: Name
    address: Address
    dea_number: DeaNumber
    dea_schedules: Schedules
    dea_expires_on: Day
    npi: Npi | None = None


class PrescriptionCreate(InputModel):
    model_config = example(
        {
            "registrant_id": "91ab3c5d-7e2f-4a6b-8c9d-0e1f2a3b4c55",
            "patient_id": "3fa0b4c5-6d7e-4f80-9b92-ad1e2f3a4b55",
            "product_id": "9f061a2b-2334-45e6-91f8-037e8f90a1bb",
            "rx_number": "RX-100231",
            "transmission": "electronic",
            "external_rx_id": "SS-7781234",
            "issued_on": "2026-02-27",
            "prescriber": {
                "name": "Dr. Maya Reyes",
                "address": {
                    "line1": "100 Main St",
                    "city": "Austin",
                    "state": "TX",
                    "postal_code": "78701",
                },
                "dea_number": "BM7654329",
                "dea_schedules": ["2", "2N", "3", "3N", "4", "5"],
                "dea_expires_on": "2027-06-30",
                "npi": "1234567893",
            },
            "quantity": "30",
            "directions": "Dissolve one troche under the tongue before each session",
            "days_supply": 30,
            "refills_authorized": 1,
            "encounter": "telehealth_audio_video",
            "in_person_evaluation_on": "2026-02-23",
        }
    )

    registrant_id: uuid.UUID
    """The pharmacy that received it (and owns it)."""
    rx_number: Annotated[str, Field(min_length=1, max_length=30, examples=["RX-104233"])]
    """The pharmacy's own number for it, unique at the pharmacy."""
    transmission: Transmission
    external_rx_id: Annotated[str | None, Field(max_length=100)] = None
    """The e-prescription's id (required for electronic ones)."""
    patient_id: uuid.UUID
    """A patient of the pharmacy (with their address)."""
    product_id: uuid.UUID
    """The drug, strength and form prescribed: a product of the pharmacy."""
    quantity: PositiveQuantity = Field(examples=["30"])
    """Per filling, in the product's unit."""
    directions: FreeText = Field(examples=["Dissolve one troche under the tongue as directed"])
    issued_on: Day
    refills_authorized: int = Field(ge=0, le=MAX_REFILLS)
    days_supply: int = Field(ge=1, le=365)
    encounter: Encounter
    in_person_evaluation_on: Day | None = None
    """The date of the prescriber's in-person evaluation, if there was one."""
    prescriber: PrescriberAsGiven
    issuer_registrant_id: uuid.UUID | None = Field(
        default=None,
        description="The issuing clinic's registrant, if it uses csledger: it may then read "
        "this prescription and its fills (every read audited at the pharmacy). Only the "
        "pharmacy decides; it may change or remove the link later.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.transmission is Transmission.electronic and self.external_rx_id is None:
            raise ValueError("an electronic prescription carries its external_rx_id")
        if self.in_person_evaluation_on is not None and self.in_person_evaluation_on > (
            self.issued_on
        ):
            raise ValueError("in_person_evaluation_on is after issued_on")
        return self


class CancelCreate(InputModel):
    model_config = example({"reason": "the prescriber cancelled it by phone"})

    reason: FreeText


class IssuerLink(InputModel):
    """The registrant the pharmacy shares the prescription with (null: nobody)."""

    model_config = example({"issuer_registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11"})

    issuer_registrant_id: uuid.UUID | None


class FillCreate(InputModel):
    model_config = example(
        {
            "location_id": "2e9f3a4b-5c6d-4e7f-8a81-9c0d1e2f3a44",
            "lot_id": "b1283c4d-4556-4708-b31a-2590a1b2c3dd",
            "quantity": "30",
            "filled_at": "2026-03-02T16:30:00-06:00",
        }
    )

    lot_id: uuid.UUID
    location_id: uuid.UUID
    """Where the units are dispensed from."""
    quantity: PositiveQuantity
    filled_at: Instant
    dispensed_by: uuid.UUID | None = None
    """An integration names the pharmacist; anyone else dispenses what they record."""
    early_refill_reason: FreeText | None = None
    """Why a refill comes before the configured share of the previous fill's days supply."""


class FillOut(OutputModel):
    id: uuid.UUID
    prescription_id: uuid.UUID
    event_id: uuid.UUID
    lot_id: uuid.UUID
    quantity: Quantity
    filled_at: datetime
    refill_number: int
    partial: bool
    dispensed_by: uuid.UUID
    early_refill_reason: str | None
    broken_rules: list[str]
    reversed: bool = Field(description="Entered in error and reversed in the ledger.")
    created_at: datetime
    lot: LotName | None = None
    dispenser: StaffName | None = Field(
        default=None, description="The pharmacist `dispensed_by` names"
    )


class PrescriptionRecordOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    rx_number: str
    transmission: Transmission
    external_rx_id: str | None
    patient_id: uuid.UUID
    product_id: uuid.UUID
    quantity: Quantity
    directions: str
    issued_on: date
    refills_authorized: int
    days_supply: int
    encounter: Encounter
    in_person_evaluation_on: date | None
    prescriber: dict[str, Any]
    issuer_registrant_id: uuid.UUID | None
    status: PrescriptionStatus
    status_reason: str | None
    broken_rules: list[str]
    is_record: bool
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime


class PrescriptionListedOut(PrescriptionRecordOut):
    """The prescription with the names of its patient and product beside their ids."""

    patient: PatientName | None = None
    product: ProductName | None = None


class PrescriptionOut(PrescriptionListedOut):
    """The prescription with its fills and what is left of it."""

    fills: list[FillOut]
    dispensed: Quantity
    remaining: Quantity
    """What the refills still authorise (none once the six months are over)."""
    fill_by: date = Field(description="The last day it may be filled (six months after issue).")
    fillable: bool = Field(
        description="Whether a fill may be dispensed today (the pharmacy's day): said from the "
        "moment the prescription is received, so one received after its six months shows it."
    )
    not_fillable_because: str | None = Field(
        description="Why not, when it may not: cancelled, past its six months, or dispensed "
        "in full with its refills.",
        examples=["more than six months after issue: the last day to fill was 02 Sep 2026"],
    )
