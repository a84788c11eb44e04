"""Evaluations and treatment plans, as the API takes and shows them."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator

from app.catalog.names import PatientName, StaffName
from app.core.examples import example
from app.core.schemas import (
    Day,
    FreeText,
    InputModel,
    Name,
    OutputModel,
    PositiveQuantity,
    Quantity,
)

ESKETAMINE_DOSES_MG = (Decimal(56), Decimal(84))
"""Two or three 28 mg devices (docs/domain.md#esketamine-devices-kits-and-doses)."""


class TreatmentClass(StrEnum):
    ssri = "ssri"
    snri = "snri"
    tricyclic = "tricyclic"
    maoi = "maoi"
    atypical_antidepressant = "atypical_antidepressant"
    augmentation = "augmentation"
    psychotherapy = "psychotherapy"
    ect = "ect"
    tms = "tms"
    other = "other"


class TrialOutcome(StrEnum):
    inadequate_response = "inadequate_response"
    """A failed trial: counts toward treatment resistance when it lasted long enough."""
    intolerance = "intolerance"
    partial_response = "partial_response"
    response = "response"


class EvaluationOutcome(StrEnum):
    candidate = "candidate"
    not_candidate = "not_candidate"


class Modality(StrEnum):
    iv_infusion = "iv_infusion"
    esketamine_nasal = "esketamine_nasal"
    compounded_at_home = "compounded_at_home"


class PlanStatus(StrEnum):
    active = "active"
    completed = "completed"
    discontinued = "discontinued"


class PriorTreatment(InputModel):
    treatment_class: TreatmentClass
    agent: Name = Field(examples=["sertraline"])
    duration_weeks: int = Field(ge=0, le=520)
    outcome: TrialOutcome


class Contraindications(InputModel):
    """The screening: each answered explicitly, true when present."""

    uncontrolled_hypertension: bool
    psychosis_history: bool
    cardiovascular_disease: bool
    cerebrovascular_disease: bool
    pregnancy: bool
    active_substance_use_disorder: bool
    aneurysmal_vascular_disease_or_avm: bool
    intracerebral_hemorrhage_history: bool
    hypersensitivity: bool


class VitalSigns(InputModel):
    systolic_mmhg: int = Field(ge=40, le=300)
    diastolic_mmhg: int = Field(ge=20, le=200)
    heart_rate_bpm: int = Field(ge=20, le=250)
    spo2_percent: int | None = Field(default=None, ge=50, le=100)


class Vitals(VitalSigns):
    """An evaluation's vital signs, with the weight taken that day."""

    weight_kg: PositiveQuantity | None = None


class EvaluationVitalsOut(OutputModel):
    """An evaluation's vital signs as recorded (:class:`Vitals` as served)."""

    systolic_mmhg: int
    diastolic_mmhg: int
    heart_rate_bpm: int
    spo2_percent: int | None = None
    weight_kg: Quantity | None = None


class EvaluationCreate(InputModel):
    model_config = example(
        {
            "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
            "patient_id": "3fa0b4c5-6d7e-4f80-9b92-ad1e2f3a4b55",
            "evaluated_on": "2026-02-23",
            "in_person": True,
            "prior_treatments": [
                {
                    "treatment_class": "ssri",
                    "agent": "sertraline",
                    "duration_weeks": 10,
                    "outcome": "inadequate_response",
                },
                {
                    "treatment_class": "snri",
                    "agent": "venlafaxine",
                    "duration_weeks": 8,
                    "outcome": "inadequate_response",
                },
            ],
            "contraindications": {
                "uncontrolled_hypertension": False,
                "psychosis_history": False,
                "cardiovascular_disease": False,
                "cerebrovascular_disease": False,
                "pregnancy": False,
                "active_substance_use_disorder": False,
                "aneurysmal_vascular_disease_or_avm": False,
                "intracerebral_hemorrhage_history": False,
                "hypersensitivity": False,
            },
            "vitals": {
                "systolic_mmhg": 124,
                "diastolic_mmhg": 80,
                "heart_rate_bpm": 70,
                "spo2_percent": 98,
                "weight_kg": "70",
            },
            "outcome": "candidate",
        }
    )

    registrant_id: uuid.UUID
    patient_id: uuid.UUID
    prescriber_id: uuid.UUID | None = None
    """The caller's own staff row; left out, it is found from the token."""
    evaluated_on: Day
    in_person: bool
    prior_treatments: list[PriorTreatment] = Field(max_length=50)
    contraindications: Contraindications
    vitals: Vitals
    outcome: EvaluationOutcome
    outcome_reason: FreeText | None = None
    override_reason: FreeText | None = None
    """Kept with the rules it overrides; with none broken, it is not kept."""

    @model_validator(mode="after")
    def _reason_for_not_candidate(self) -> Self:
        if self.outcome is EvaluationOutcome.not_candidate and self.outcome_reason is None:
            raise ValueError("outcome_reason is required when the patient is not a candidate")
        return self


class EvaluationOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    patient_id: uuid.UUID
    prescriber_id: uuid.UUID
    evaluated_on: date
    in_person: bool
    prior_treatments: list[PriorTreatment]
    contraindications: Contraindications
    vitals: EvaluationVitalsOut
    outcome: EvaluationOutcome
    outcome_reason: str | None
    broken_rules: list[str]
    override_reason: str | None
    recorded_by: str
    created_at: datetime
    patient: PatientName | None = None
    prescriber: StaffName | None = None


_DOSE_FIELDS: dict[Modality, frozenset[str]] = {
    Modality.iv_infusion: frozenset({"dose_mg_per_kg"}),
    Modality.esketamine_nasal: frozenset({"dose_mg"}),
    Modality.compounded_at_home: frozenset({"mg_per_unit", "units_per_dose"}),
}
_ALL_DOSE_FIELDS = frozenset().union(*_DOSE_FIELDS.values())


class TreatmentPlanCreate(InputModel):
    model_config = example(
        {
            "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
            "patient_id": "3fa0b4c5-6d7e-4f80-9b92-ad1e2f3a4b55",
            "evaluation_id": "d34a5e6f-6778-492a-953c-47b2c3d4e5ff",
            "modality": "iv_infusion",
            "dose_mg_per_kg": "0.5",
            "sessions_per_week": 2,
            "total_sessions": 6,
            "starts_on": "2026-03-02",
            "ends_on": "2026-03-31",
        }
    )

    registrant_id: uuid.UUID
    patient_id: uuid.UUID
    evaluation_id: uuid.UUID
    """The candidate evaluation of this patient that the plan rests on."""
    prescriber_id: uuid.UUID | None = None
    """The caller's own staff row; left out, it is found from the token."""
    modality: Modality
    dose_mg_per_kg: PositiveQuantity | None = Field(default=None, examples=["0.5"])
    """IV infusion: mg per kg of the weight recorded on the day."""
    dose_mg: PositiveQuantity | None = Field(default=None, examples=["56"])
    """Esketamine: 56 or 84 mg."""
    mg_per_unit: PositiveQuantity | None = Field(default=None, examples=["100"])
    """At home: mg of ketamine per troche or tablet."""
    units_per_dose: PositiveQuantity | None = Field(default=None, examples=["1"])
    sessions_per_week: int = Field(ge=1, le=7)
    total_sessions: int = Field(ge=1, le=1000)
    starts_on: Day
    ends_on: Day
    override_reason: FreeText | None = None
    """Kept with the rules it overrides; with none broken, it is not kept."""

    @model_validator(mode="after")
    def _dose_of_the_modality(self) -> Self:
        wanted = _DOSE_FIELDS[self.modality]
        missing = sorted(name for name in wanted if getattr(self, name) is None)
        extra = sorted(n for n in _ALL_DOSE_FIELDS - wanted if getattr(self, n) is not None)
        if missing:
            raise ValueError(f"{self.modality.value} needs {', '.join(missing)}")
        if extra:
            raise ValueError(f"{self.modality.value} takes no {', '.join(extra)}")
        if self.modality is Modality.esketamine_nasal and self.dose_mg not in ESKETAMINE_DOSES_MG:
            raise ValueError("an esketamine dose is 56 or 84 mg (two or three 28 mg devices)")
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class TreatmentPlanUpdate(InputModel):
    """A status change: forward only, from active."""

    model_config = example(
        {"status": "completed", "status_reason": "course of six infusions given"}
    )

    status: PlanStatus
    status_reason: FreeText | None = None

    @model_validator(mode="after")
    def _reason_for_discontinuing(self) -> Self:
        if self.status is PlanStatus.discontinued and self.status_reason is None:
            raise ValueError("status_reason is required to discontinue a plan")
        return self


class TreatmentPlanRecordOut(OutputModel):
    """A plan as each of its versions is kept."""

    id: uuid.UUID
    registrant_id: uuid.UUID
    patient_id: uuid.UUID
    prescriber_id: uuid.UUID
    evaluation_id: uuid.UUID
    modality: Modality
    dose_mg_per_kg: Quantity | None
    dose_mg: Quantity | None
    mg_per_unit: Quantity | None
    units_per_dose: Quantity | None
    sessions_per_week: int
    total_sessions: int
    starts_on: date
    ends_on: date
    status: PlanStatus
    status_reason: str | None
    broken_rules: list[str]
    override_reason: str | None
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime


class TreatmentPlanOut(TreatmentPlanRecordOut):
    """The plan with the names of its patient and prescriber beside their ids."""

    patient: PatientName | None = None
    prescriber: StaffName | None = None
