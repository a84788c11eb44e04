"""The committed contract (openapi/openapi.json) is the app's, and documents its problems."""

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, create_model

from app.core.config import Environment, Settings
from app.core.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX
from app.core.openapi import build_openapi
from app.main import create_app

COMMITTED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# FHIR routes answer with OperationOutcome instead of problem details (DESIGN.md).
PROBLEM_EXEMPT_PREFIXES = ("/v1/fhir/",)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(environment=Environment.test, database_url="sqlite+aiosqlite:///:memory:")
    # Through JSON, as the file is written, so both sides have the same types (str keys, lists).
    generated: dict[str, Any] = json.loads(json.dumps(create_app(settings).openapi()))
    return generated


def v1_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith("/v1/") and not path.startswith(PROBLEM_EXEMPT_PREFIXES)
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_committed_document_is_the_apps(document: dict[str, Any]) -> None:
    committed = json.loads(COMMITTED.read_text())

    assert committed == document, "openapi/openapi.json is stale: run `make openapi`"


def test_problem_types_are_csledger_urns(document: dict[str, Any]) -> None:
    problem_types = document["x-problem-types"]

    assert problem_types
    for problem in problem_types:
        assert problem["type"].startswith(PROBLEM_TYPE_PREFIX), problem
        assert problem["type"] != PROBLEM_TYPE_PREFIX, problem


@pytest.mark.parametrize("status", ["401", "403", "404", "422"])
def test_every_v1_operation_documents_its_problem_responses(
    document: dict[str, Any], status: str
) -> None:
    operations = v1_operations(document)
    problem_schema = {"$ref": "#/components/schemas/Problem"}

    assert operations
    undocumented = [
        f"{method.upper()} {path}"
        for path, method, operation in operations
        if operation.get("responses", {}).get(status, {}).get("content", {}).get(PROBLEM_MEDIA_TYPE)
        != {"schema": problem_schema}
    ]
    assert not undocumented, f"no {status} {PROBLEM_MEDIA_TYPE} response: {undocumented}"


def test_the_readme_documents_every_setting():
    readme = (COMMITTED.parents[1] / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"CSLEDGER_{name.upper()}" not in readme]
    assert missing == [], "add these settings to README.md's table"


OPERATION_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_operation_ids_are_readable_and_unique(document: dict[str, Any]) -> None:
    """What a generated client names its methods: `list_registrants`, not
    `list_registrants_v1_registrants_get`; two operations never share one."""
    ids = [operation["operationId"] for _, _, operation in operations(document)]

    unreadable = [found for found in ids if not OPERATION_ID.match(found)]
    assert not unreadable
    assert [found for found in ids if "_v1_" in found or found.endswith(("_get", "_post"))] == []
    assert len(ids) == len(set(ids)), sorted(found for found in ids if ids.count(found) > 1)
    assert {"list_registrants", "fill_prescription", "create_medication_dispense"} <= set(ids)


SCHEMA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def test_schema_names_are_readable_and_each_names_one_model(document: dict[str, Any]) -> None:
    """No `Page_RegistrantOut_`, `app__pharmacy__schemas__IngredientOut` or `Vitals-Output`,
    which generators turn into class names or drop."""
    schemas = document["components"]["schemas"]

    assert [name for name in schemas if not SCHEMA_NAME.match(name)] == []
    titles = [schema.get("title", name) for name, schema in schemas.items()]
    assert len(titles) == len(set(titles))
    assert {"RegistrantPage", "BatchIngredientOut", "IngredientOut", "EvaluationOut"} <= set(
        schemas
    )


def test_two_models_of_one_name_are_refused_when_the_document_is_built() -> None:
    """Rather than named after their modules, as FastAPI would name them."""

    def model(module: str, value: type) -> type[BaseModel]:
        return create_model("Twin", __module__=module, value=(value, ...))

    def accepting(body_model: type[BaseModel]) -> Callable[..., Awaitable[None]]:
        async def endpoint(body: body_model) -> None:  # type: ignore[valid-type]
            return None

        return endpoint

    app = FastAPI()
    app.add_api_route("/first", accepting(model("app.first", int)), methods=["POST"])
    app.add_api_route("/second", accepting(model("app.second", str)), methods=["POST"])

    with pytest.raises(TypeError, match="Twin"):
        build_openapi(app)
