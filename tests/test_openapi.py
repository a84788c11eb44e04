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
from app.edge.openapi import build_openapi
from app.main import create_app
from tests.conftest import bearer

COMMITTED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# FHIR routes answer with OperationOutcome instead of problem details
# (docs/domain.md#operationoutcome).
PROBLEM_EXEMPT_PREFIXES = ("/v1/fhir/",)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(environment=Environment.test, database_url="sqlite+aiosqlite:///:memory:")
    # Through JSON, as the file is written, so both sides have the same types (str keys, lists).
    generated: dict[str, Any] = json.loads(json.dumps(create_app(settings).openapi()))
    return generated


def v1_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The operations under /v1 that need a token (the checkpoints' keys are public)."""
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith("/v1/") and not path.startswith(PROBLEM_EXEMPT_PREFIXES)
        for method, operation in item.items()
        if method in HTTP_METHODS and operation.get("security")
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


def problem_statuses(operation: dict[str, Any]) -> set[str]:
    return {status for status in operation["responses"] if not status.startswith("2")}


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_an_idempotency_key_is_documented_required_where_its_absence_is_428(
    app, client, admin_token
) -> None:
    """Every write, sent without the header (and without a body: the header is checked
    first), answers 428 exactly where the document says the header is required."""
    document = app.openapi()
    answered_428, documented_required = set(), set()
    for path, method, operation in operations(document):
        if method not in {"post", "put", "patch"} or not operation.get("security"):
            continue
        concrete = path.replace("{", "").replace("}", "")  # ids that name nothing
        response = await client.request(method, concrete, headers=bearer(admin_token))
        if response.status_code == 428:
            answered_428.add((method, path))
        [header] = [
            p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"
        ] or [{}]
        if header.get("required"):
            documented_required.add((method, path))
            assert "428" in operation["responses"], (method, path)
            assert header["schema"]["type"] == "string", (method, path)
        else:
            assert "428" not in operation["responses"], (method, path)

    assert len(answered_428) > 10
    assert answered_428 == documented_required


def test_each_operation_documents_what_its_shape_can_answer(document: dict[str, Any]) -> None:
    """A write can conflict (409), a body be too large (413), a path name nothing (404)."""
    for path, method, operation in operations(document):
        statuses = problem_statuses(operation)
        where = f"{method.upper()} {path}"
        if method in {"post", "put", "patch", "delete"}:
            assert "409" in statuses, where
        if "requestBody" in operation:
            assert {"413", "422"} <= statuses, where
        if "{" in path:
            assert {"404", "422"} <= statuses, where
        for status in statuses:
            content = operation["responses"][status]["content"]
            expected = (
                "application/fhir+json" if path.startswith("/v1/fhir/") else PROBLEM_MEDIA_TYPE
            )
            assert list(content) == [expected], (where, status)


def test_the_problem_schema_documents_its_extension_members(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]

    assert {"errors", "broken_rules", "index"} <= set(problem["properties"])
    assert problem["additionalProperties"] is False
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_fhir_operations_take_and_answer_their_own_resource(document: dict[str, Any]) -> None:
    """Two resource types, four request bodies: none shared, so a generated client keeps
    them apart."""
    for resource_type in ("MedicationAdministration", "MedicationDispense"):
        ref = {"$ref": f"#/components/schemas/{resource_type}"}
        for method in ("post", "put"):
            operation = document["paths"][f"/v1/fhir/{resource_type}"][method]
            bodies = operation["requestBody"]["content"].values()
            assert [body["schema"] for body in bodies] == [ref, ref]
            assert (
                operation["responses"]["200"]["content"]["application/fhir+json"]["schema"] == ref
            )


def test_every_reference_names_a_schema_of_the_document(document: dict[str, Any]) -> None:
    """A dangling `$ref` stops ReDoc and generators (FastAPI's HTTPValidationError, dropped
    from the components, was still named by the webhook's 422)."""
    schemas = document["components"]["schemas"]
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))

    assert refs
    assert sorted(refs - set(schemas)) == []
