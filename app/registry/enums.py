"""The closed vocabularies of the registry."""

from enum import StrEnum


class RegistrantKind(StrEnum):
    clinic = "clinic"
    pharmacy = "pharmacy"


class Schedule(StrEnum):
    """DEA schedule codes a registration may authorise (N = non-narcotic)."""

    s2 = "2"
    s2n = "2N"
    s3 = "3"
    s3n = "3N"
    s4 = "4"
    s5 = "5"


class RemsCertificationStatus(StrEnum):
    """Whether a setting may administer esketamine under the Spravato REMS."""

    not_certified = "not_certified"
    pending = "pending"
    certified = "certified"
    suspended = "suspended"
    revoked = "revoked"


class LocationKind(StrEnum):
    vault = "vault"
    cabinet = "cabinet"
    procedure_room = "procedure_room"
    in_use = "in_use"
    """A session's holding: stock withdrawn for one session, created by the session itself."""


class StaffRole(StrEnum):
    pharmacist = "pharmacist"
    pharmacy_technician = "pharmacy_technician"
    clinician = "clinician"
    nurse = "nurse"
    prescriber = "prescriber"
    compliance_officer = "compliance_officer"
    administrator = "administrator"


class Sex(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"
