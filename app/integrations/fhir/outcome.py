"""Refusals under /v1/fhir/, answered as an R4 ``OperationOutcome`` (application/fhir+json).

Each refusal of a resource is a :class:`FhirRefusal` carrying its issues, each with a FHIR
issue code and, where one field is at fault, its FHIRPath ``expression``. Any other error met
on these routes (a token refused, a registrant not named, the database busy) becomes one
issue whose code follows from its HTTP status.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import orjson

from app.core.errors import AppError
from app.edge.problems import ProblemFormat
from app.edge.routing import API_PREFIX

FHIR_MEDIA_TYPE = "application/fhir+json"
FHIR_PATH_PREFIX = f"{API_PREFIX}/fhir/"

_CODE_OF_STATUS = {
    400: "structure", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
    409: "conflict", 413: "too-long", 415: "not-supported", 422: "invalid", 428: "required",
    503: "transient",
}  # fmt: skip
"""The FHIR issue type (http://hl7.org/fhir/issue-type) of an error that names none."""


@dataclass(frozen=True, slots=True)
class Issue:
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()
    severity: str = "error"

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"severity": self.severity, "code": self.code,
                                 "diagnostics": self.diagnostics}  # fmt: skip
        if self.expression:
            found["expression"] = list(self.expression)
        return found


class FhirRefusal(AppError):
    """A resource refused, with its issues (the base of the FHIR problems)."""

    slug = "fhir-invalid"
    status = 422
    title = "Invalid FHIR resource"
    description = "The body is not a valid R4 resource of this endpoint's type."

    def __init__(self, issues: Sequence[Issue], headers: dict[str, str] | None = None) -> None:
        super().__init__("; ".join(issue.diagnostics for issue in issues), headers=headers)
        self.issues = tuple(issues)

    @classmethod
    def at(cls, code: str, diagnostics: str, *expression: str) -> Self:
        return cls([Issue(code, diagnostics, expression)])


class FhirWrongVersion(FhirRefusal):
    slug = "fhir-wrong-version"
    title = "Not FHIR R4"
    description = "The resource declares or has the shape of another FHIR version than R4."


class FhirUnknownReference(FhirRefusal):
    slug = "fhir-unknown-reference"
    title = "Unknown reference"
    description = (
        "The resource names a patient, practitioner, medication, lot, session or location this "
        "registrant does not have."
    )


class FhirIdentifierConflict(FhirRefusal):
    slug = "fhir-identifier-conflict"
    status = 409
    title = "Identifier already used"
    description = (
        "The sender already sent another resource with this identifier; a status change is a "
        "conditional PUT, and anything else is a new resource."
    )


class FhirSenderNotConfigured(FhirRefusal):
    slug = "fhir-sender-not-configured"
    status = 403
    title = "FHIR sender not configured"
    description = "An admin has not enabled this integration as a FHIR sender at the registrant."


class FhirScopeNotGranted(FhirRefusal):
    slug = "fhir-scope-not-granted"
    status = 403
    title = "Scope not granted"
    description = (
        "The integration's configuration at the registrant does not grant what this request "
        "does (a resource type to send, reading its records back)."
    )


class UnsupportedMediaType(FhirRefusal):
    slug = "unsupported-media-type"
    status = 415
    title = "Unsupported media type"
    description = "FHIR resources are sent as application/fhir+json (or application/json)."


def outcome_of(error: AppError) -> dict[str, Any]:
    """The OperationOutcome answering ``error``."""
    if isinstance(error, FhirRefusal):
        issues = list(error.issues)
    else:
        severity = "fatal" if error.status >= 500 else "error"
        code = _CODE_OF_STATUS.get(error.status, "exception")
        issues = [Issue(code, _diagnostics(error), severity=severity)]
    return {"resourceType": "OperationOutcome", "issue": [issue.as_json() for issue in issues]}


def _diagnostics(error: AppError) -> str:
    named = [f"{e.pointer or e.parameter}: {e.detail}" for e in error.errors
             if e.pointer or e.parameter]  # fmt: skip
    return "; ".join(named) if named else error.detail


def render(error: AppError, *, instance: str, request_id: str) -> bytes:
    """The answer's body (``instance`` and ``request_id`` travel in the URL and X-Request-ID)."""
    return orjson.dumps(outcome_of(error))


OUTCOME_SCHEMA: dict[str, Any] = {
    "title": "OperationOutcome",
    "description": "An R4 OperationOutcome: each issue with its FHIRPath `expression` where "
    "one element is at fault.",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code", "diagnostics"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string", "examples": ["required"]},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

PROBLEM_FORMAT = ProblemFormat(
    FHIR_PATH_PREFIX, FHIR_MEDIA_TYPE, render, "OperationOutcome", OUTCOME_SCHEMA
)
"""Errors under /v1/fhir/ are answered as OperationOutcome (docs/domain.md#operationoutcome)."""
