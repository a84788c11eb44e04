"""From a request's body to a validated R4 resource (pure): JSON, the endpoint's
``resourceType``, R4 rather than another version where that shows, then fhir.resources' R4B
models (wire-compatible with R4 for these resources)."""

from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationdispense import MedicationDispense
from pydantic import ValidationError

from app.core import strict_json
from app.integrations.fhir.outcome import (
    FhirRefusal,
    FhirWrongVersion,
    Issue,
    UnsupportedMediaType,
)

ADMINISTRATION = "MedicationAdministration"
DISPENSE = "MedicationDispense"
Resource = MedicationAdministration | MedicationDispense
MODELS: dict[str, type[Resource]] = {
    ADMINISTRATION: MedicationAdministration,
    DISPENSE: MedicationDispense,
}
ACCEPTED_MEDIA_TYPES = frozenset({"application/fhir+json", "application/json"})
R4_VERSIONS = ("4.0", "4.3")
"""``fhirVersion`` media-type parameters taken: R4, and R4B (the same wire format here)."""

OTHER_VERSIONS_FIELDS: dict[str, dict[str, str]] = {
    ADMINISTRATION: {
        "medication": "R5", "occurenceDateTime": "R5", "occurencePeriod": "R5",
        "occurenceTiming": "R5", "encounter": "R5", "recorded": "R5", "isSubPotent": "R5",
        "subPotentReason": "R5", "notGiven": "STU3", "reasonNotGiven": "STU3",
        "definition": "STU3",
    },
    DISPENSE: {
        "medication": "R5", "encounter": "R5", "notPerformedReason": "R5",
        "statusChanged": "R5", "recorded": "R5", "renderedDosageInstruction": "R5",
        "notDone": "STU3", "notDoneReasonCodeableConcept": "STU3",
        "notDoneReasonReference": "STU3",
    },
}  # fmt: skip
"""Elements another FHIR version has and R4 does not: a resource carrying one was written for
that version, and is refused as such rather than as a stray element."""
_OTHER_VERSION_PROFILES = {"/R5/": "R5", "/fhir/5.0": "R5", "/STU3/": "STU3", "/fhir/3.0": "STU3"}


def check_media_type(content_type: str | None) -> None:
    media_type, *parameters = (content_type or "").split(";")
    if media_type.strip().lower() not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaType.at(
            "not-supported", f"send application/fhir+json, not {media_type.strip() or 'nothing'}"
        )
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        version = value.strip().strip('"')
        if name.strip().lower() == "fhirversion" and not version.startswith(R4_VERSIONS):
            raise FhirWrongVersion.at("not-supported", f"fhirVersion {version} is not R4 (4.0)")


def parse(body: bytes, resource_type: str) -> tuple[Resource, dict[str, Any]]:
    """The validated resource and the JSON it came from."""
    try:
        raw = strict_json.loads(body)
    except strict_json.Refused as refused:  # not JSON, not UTF-8, or what JSON may not hold
        raise FhirRefusal.at("structure", refused.detail,
                             fhir_path(resource_type, refused.path)) from refused  # fmt: skip
    if not isinstance(raw, dict):
        raise FhirRefusal.at("structure", f"the body is not a {resource_type} resource")
    if raw.get("resourceType") != resource_type:
        raise FhirRefusal.at(
            "invalid", f"resourceType is {raw.get('resourceType')!r}; this endpoint takes "
            f"{resource_type}", "resourceType",
        )  # fmt: skip
    _check_version(raw, resource_type)
    try:
        return MODELS[resource_type].model_validate(raw), raw
    except ValidationError as exc:
        raise FhirRefusal([_issue(error, resource_type) for error in exc.errors()]) from exc


def _check_version(raw: dict[str, Any], resource_type: str) -> None:
    for name, version in OTHER_VERSIONS_FIELDS[resource_type].items():
        if name in raw:
            raise FhirWrongVersion.at(
                "not-supported", f"{name} is an element of FHIR {version}, not of R4",
                f"{resource_type}.{name}",
            )  # fmt: skip
    meta = raw.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    for profile in profiles if isinstance(profiles, list) else ():
        for marker, version in _OTHER_VERSION_PROFILES.items():
            if marker in str(profile):
                raise FhirWrongVersion.at("not-supported", f"profile {profile} is FHIR "
                                          f"{version}'s, not R4's", "meta.profile")  # fmt: skip


def _issue(error: Any, resource_type: str) -> Issue:
    kind = str(error.get("type", ""))
    code = "required" if kind.endswith("missing") else "structure" if kind == (
        "extra_forbidden") else "value"  # fmt: skip
    path = fhir_path(resource_type, error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return Issue(code, f"{path}: {message}", (path,))


def fhir_path(resource_type: str, location: Sequence[Any]) -> str:
    """A pydantic location as FHIRPath: ``dosage.dose.value``, ``performer[0].actor``."""
    path = resource_type
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
