"""API shapes of the registry."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from app.core.examples import example
from app.core.schemas import (
    Address,
    Day,
    DeaNumber,
    InputModel,
    Name,
    Npi,
    OutputModel,
    PositiveQuantity,
    Quantity,
    Timezone,
    UsState,
)
from app.registry.enums import (
    LocationKind,
    RegistrantKind,
    RemsCertificationStatus,
    Schedule,
    Sex,
    StaffRole,
)
from app.registry.models import LOCATION_NAME_LENGTH

Schedules = Annotated[list[Schedule], Field(min_length=1, max_length=6)]
REMS_NEEDS_ID = "a REMS-certified setting needs its rems_certification_id"


def _unique_sorted(values: list[Schedule]) -> list[Schedule]:
    return sorted(set(values), key=list(Schedule).index)


class RegistrantCreate(InputModel):
    model_config = example(
        {
            "name": "Hill Country Ketamine Clinic",
            "kind": "clinic",
            "dea_number": "FK1234563",
            "schedules": ["3N", "4"],
            "registration_expires_on": "2027-06-30",
            "address": {
                "line1": "100 Main St",
                "city": "Austin",
                "state": "TX",
                "postal_code": "78701",
            },
            "timezone": "America/Chicago",
        }
    )

    name: Name
    kind: RegistrantKind
    dea_number: DeaNumber
    schedules: Schedules
    registration_expires_on: Day
    address: Address
    timezone: Timezone
    holidays: list[Day] = []
    npi: Npi | None = None
    ncpdp: Annotated[str | None, Field(pattern=r"^[0-9]{7}$")] = None
    rems_certification_id: Annotated[str | None, Field(max_length=50)] = None
    rems_certification_status: RemsCertificationStatus = RemsCertificationStatus.not_certified

    _schedules = field_validator("schedules")(_unique_sorted)

    @model_validator(mode="after")
    def _rems_needs_id(self) -> "RegistrantCreate":
        if (
            self.rems_certification_status is RemsCertificationStatus.certified
            and not self.rems_certification_id
        ):
            raise ValueError(REMS_NEEDS_ID)
        return self


class RegistrantUpdate(InputModel):
    """A renewal or a change: only the fields given change; the previous version is kept."""

    model_config = example({"holidays": ["2026-12-25"]})

    name: Name | None = None
    schedules: Schedules | None = None
    registration_expires_on: Day | None = None
    address: Address | None = None
    timezone: Timezone | None = None
    holidays: list[Day] | None = None
    npi: Npi | None = None
    ncpdp: Annotated[str | None, Field(pattern=r"^[0-9]{7}$")] = None
    rems_certification_id: Annotated[str | None, Field(max_length=50)] = None
    rems_certification_status: RemsCertificationStatus | None = None

    _schedules = field_validator("schedules")(lambda v: None if v is None else _unique_sorted(v))


class RegistrantOut(OutputModel):
    id: uuid.UUID
    name: str
    kind: RegistrantKind
    dea_number: str
    schedules: list[Schedule]
    registration_expires_on: date
    address: Address
    state: UsState
    timezone: str
    holidays: list[date]
    npi: str | None
    ncpdp: str | None
    rems_certification_id: str | None
    rems_certification_status: RemsCertificationStatus
    version: int
    created_at: datetime
    updated_at: datetime


class RevisionOut(OutputModel):
    version: int
    data: dict[str, Any]
    changed_at: datetime
    changed_by: str


class LocationCreate(InputModel):
    model_config = example({"name": "Main vault", "kind": "vault"})

    name: Annotated[str, Field(min_length=1, max_length=LOCATION_NAME_LENGTH)]
    kind: LocationKind

    @field_validator("kind")
    @classmethod
    def _not_a_holding(cls, kind: LocationKind) -> LocationKind:
        if kind is LocationKind.in_use:
            raise ValueError("in_use holdings are opened by sessions, not created directly")
        return kind


class LocationUpdate(InputModel):
    model_config = example({"name": "Vault A"})

    name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    active: bool | None = None


class LocationOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    name: str
    kind: LocationKind
    active: bool
    session_id: uuid.UUID | None = Field(
        description="For an in_use holding: the session it belongs to."
    )
    created_at: datetime


class StaffCreate(InputModel):
    model_config = example(
        {"name": "Fiona Field, RN", "role": "nurse", "npi": "1234567893", "subject": "ffield"}
    )

    name: Name
    role: StaffRole
    subject: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    npi: Npi | None = None
    state_license: Annotated[str | None, Field(max_length=50)] = None
    active: bool = True


class StaffUpdate(InputModel):
    model_config = example({"active": False})

    name: Name | None = None
    role: StaffRole | None = None
    subject: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    npi: Npi | None = None
    state_license: Annotated[str | None, Field(max_length=50)] = None
    active: bool | None = None


class StaffOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    name: str
    role: StaffRole
    subject: str | None
    npi: str | None
    state_license: str | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class StaffRegistrationCreate(InputModel):
    model_config = example(
        {"dea_number": "BM7654329", "schedules": ["3N"], "expires_on": "2027-06-30", "state": "TX"}
    )

    dea_number: DeaNumber
    schedules: Schedules
    expires_on: Day
    state: UsState | None = None

    _schedules = field_validator("schedules")(_unique_sorted)


class StaffRegistrationOut(OutputModel):
    id: uuid.UUID
    staff_id: uuid.UUID
    dea_number: str
    schedules: list[Schedule]
    expires_on: date
    state: str | None
    created_at: datetime
    created_by: str


class PatientCreate(InputModel):
    model_config = example(
        {
            "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
            "external_id": "MRN-0042",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "date_of_birth": "1980-12-10",
            "sex": "female",
            "address": {
                "line1": "100 Main St",
                "city": "Austin",
                "state": "TX",
                "postal_code": "78701",
            },
            "weight_kg": "70",
        }
    )

    registrant_id: uuid.UUID
    external_id: Annotated[str, Field(min_length=1, max_length=64, description="MRN or EHR id")]
    given_name: Annotated[str, Field(min_length=1, max_length=100)]
    family_name: Annotated[str, Field(min_length=1, max_length=100)]
    date_of_birth: Day
    sex: Sex
    address: Address
    weight_kg: PositiveQuantity | None = None
    rems_enrollment_id: Annotated[str | None, Field(max_length=50)] = None


class PatientUpdate(InputModel):
    model_config = example({"weight_kg": "68.5"})

    given_name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    family_name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    date_of_birth: Day | None = None
    sex: Sex | None = None
    address: Address | None = None
    weight_kg: PositiveQuantity | None = None
    rems_enrollment_id: Annotated[str | None, Field(max_length=50)] = None


class PatientOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    external_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex: Sex
    address: Address
    weight_kg: Quantity | None
    rems_enrollment_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime
