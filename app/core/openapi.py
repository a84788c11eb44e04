"""The OpenAPI document: problem responses as ``application/problem+json``, every problem type
listed (``x-problem-types``), and bearer authentication declared."""

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.core.errors import PROBLEM_MEDIA_TYPE, AppError, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("Missing, malformed or expired token."),
    403: _problem("None of the caller's roles grants this action."),
    404: _problem("Not found, or another registrant's."),
    422: _problem("Invalid input; `errors` points at each invalid field."),
    503: _problem("Database unavailable; retry after `Retry-After` seconds."),
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
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in schemas["Problem"].pop("$defs", {}).items():
        schemas.setdefault(name, schema)
    document["x-problem-types"] = problem_types()
    return _named_by_title(document)


_SCHEMA_REF = "#/components/schemas/"


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


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
