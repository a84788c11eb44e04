"""The OpenAPI document: every status an operation can answer documented with its problem
schema (:mod:`app.edge.answers`), every problem type listed (``x-problem-types``), readable
operation ids and schema names, and bearer authentication declared."""

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from app.core.errors import (
    PROBLEM_MEDIA_TYPE,
    RETRY_AFTER_SECONDS,
    AppError,
    Problem,
    declared_members,
)
from app.edge.answers import required_headers_of, statuses_of
from app.edge.examples import add_answer_examples
from app.edge.problems import ProblemFormat

_SCHEMA_REF = "#/components/schemas/"

WHY: dict[int, str] = {
    401: "Missing, malformed or expired token.",
    403: "None of the caller's roles grants this action.",
    404: "Not found, or another registrant's.",
    409: (
        "The request conflicts with what is stored (a unique identifier taken, a state that "
        "does not allow it), or a request with this `Idempotency-Key` is still in flight: "
        "retry after `Retry-After`."
    ),
    413: "The body is larger than `max_body_bytes`.",
    415: "The body is not of a media type this operation takes.",
    422: (
        "Invalid input (`errors` points at each invalid field), a rule broken "
        "(`broken_rules`), or an `Idempotency-Key` reused for another request."
    ),
    428: "The `Idempotency-Key` header is missing: this write needs one.",
    503: "The database failed to serve; send the same request again after `Retry-After`.",
}
"""What each status means, as every operation that can answer it documents it."""

_HEADERS: dict[int, dict[str, Any]] = {
    503: {
        "Retry-After": {
            "description": "Seconds to wait before sending the same request again.",
            "required": True,
            "schema": {"type": "integer", "example": RETRY_AFTER_SECONDS},
        }
    },
}


_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def operation_id(route: APIRoute) -> str:
    """A route's operation id: its name in snake case (``list_registrants``; the FHIR route
    ``create_MedicationAdministration`` is ``create_medication_administration``).

    The name is also the audit log's ``action``, so it stays as it is; a route whose name alone
    would not say what it does across the whole API declares ``operation_id`` itself. A test
    holds every id unique."""
    return _WORD_BOUNDARY.sub("_", route.name).lower()


def problem_types() -> list[dict[str, Any]]:
    return [
        {
            "type": cls.type_uri(),
            "title": cls.title,
            "status": cls.status,
            "description": cls.description,
        }
        for cls in sorted(AppError.registry.values(), key=lambda c: c.slug)
    ]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=(
            "Every error is an RFC 9457 problem (`application/problem+json`) whose `type` is one "
            "of `x-problem-types`, except under `/v1/fhir/` (a FHIR `OperationOutcome`). "
            "Quantities are decimal strings; timestamps RFC 3339. What webhook endpoints "
            "receive is under `webhooks`."
        ),
        routes=app.routes,
        webhooks=app.webhooks.routes,
    )
    _drop_fastapi_validation_errors(document)
    _add_components(app, document["components"]["schemas"])
    formats: tuple[ProblemFormat, ...] = getattr(app.state, "problem_formats", ())
    for route in _api_routes(app):
        for method in sorted(route.methods or ()):
            operation = document["paths"][route.path_format][method.lower()]
            _document_answers(operation, route, formats)
    document["x-problem-types"] = problem_types()
    named = _named_by_title(document)
    add_answer_examples(named)
    return named


def _drop_fastapi_validation_errors(document: dict[str, Any]) -> None:
    """FastAPI's 422 schema, never answered here: a 422 is a problem, documented as one."""
    schemas = document["components"]["schemas"]
    for fastapi_own in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_own, None)
    for item in document.get("webhooks", {}).values():
        for delivery in item.values():  # what a receiver answers is its own affair
            delivery["responses"].pop("422", None)


def _add_components(app: FastAPI, schemas: dict[str, Any]) -> None:
    """The schemas no route's model brings: the problem, each problem format's (FHIR's
    OperationOutcome) and those added with :func:`add_schemas`."""
    schemas["Problem"] = Problem.model_json_schema(ref_template=_SCHEMA_REF + "{model}")
    for name, schema in schemas["Problem"].pop("$defs", {}).items():
        schemas.setdefault(name, schema)
    for name, member in declared_members().items():  # each problem's own members
        schemas["Problem"]["properties"][name] = {
            "type": member.type, "description": member.description,
            **({"items": member.items} if member.items else {}),
        }  # fmt: skip
    for problem_format in getattr(app.state, "problem_formats", ()):
        schemas[problem_format.schema_name] = problem_format.schema
    schemas.update(getattr(app.state, "openapi_schemas", {}))


def _api_routes(app: FastAPI) -> list[APIRoute]:
    contexts = iter_route_contexts(app.routes)
    found = [context.original_route for context in contexts]
    return [route for route in found if isinstance(route, APIRoute) and route.include_in_schema]


def _document_answers(
    operation: dict[str, Any], route: APIRoute, formats: tuple[ProblemFormat, ...]
) -> None:
    """Each status ``route`` can answer, with the problem schema of its path (an
    ``OperationOutcome`` under /v1/fhir/), and each header it requires marked required."""
    media_type, schema_name = PROBLEM_MEDIA_TYPE, "Problem"
    for problem_format in formats:
        if route.path_format.startswith(problem_format.prefix):
            media_type, schema_name = problem_format.media_type, problem_format.schema_name
    content = {media_type: {"schema": {"$ref": _SCHEMA_REF + schema_name}}}
    responses = operation.setdefault("responses", {})
    for status in sorted(statuses_of(route)):
        declared = route.responses.get(status, {})
        responses[str(status)] = {
            "description": declared.get("description", WHY[status]),
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
            "content": content,
        }
    required = required_headers_of(route)
    for parameter in operation.get("parameters", ()):
        if parameter["in"] == "header" and parameter["name"] in required:
            parameter["required"] = True
            parameter["schema"] = _not_null(parameter["schema"])


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without the ``null`` an optional parameter's has."""
    branches: list[dict[str, Any]] = schema.get("anyOf", [schema])
    (kept,) = [branch for branch in branches if branch.get("type") != "null"]
    return {key: value for key, value in schema.items() if key != "anyOf"} | kept


def _named_by_title(document: dict[str, Any]) -> dict[str, Any]:
    """Every schema named by its model's name (its ``title``): FastAPI names a generic model's
    schema ``Page_RegistrantOut_`` where the model says ``RegistrantPage``. Two schemas of one
    name (two models of one class name, or a model whose input and output differ, which
    FastAPI would call ``X-Input`` and ``X-Output``) are refused here: each needs a name."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    names = {old: schema.get("title", old) for old, schema in schemas.items()}
    taken = [name for name in names.values() if list(names.values()).count(name) > 1]
    if taken:
        raise TypeError(f"two schemas are named {sorted(set(taken))}: name each model apart")
    refs = {_SCHEMA_REF + old: _SCHEMA_REF + new for old, new in names.items() if old != new}
    document["components"]["schemas"] = {names[old]: schema for old, schema in schemas.items()}
    renamed: dict[str, Any] = _with_refs(document, refs)
    return renamed


def _with_refs(found: Any, refs: dict[str, str]) -> Any:
    if isinstance(found, dict):
        return {
            key: refs.get(value, value) if key == "$ref" else _with_refs(value, refs)
            for key, value in found.items()
        }
    if isinstance(found, list):
        return [_with_refs(item, refs) for item in found]
    return found


def add_schemas(app: FastAPI, schemas: dict[str, dict[str, Any]]) -> None:
    """Components no model declares (the FHIR resources, which the service reads itself)."""
    app.state.openapi_schemas = getattr(app.state, "openapi_schemas", {}) | schemas


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
