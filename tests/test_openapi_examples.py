"""Every request body and every success answer in the document has an example, and each
example is one its schema (and, for a body, its model) accepts."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from app.core.config import Environment, Settings
from app.core.schemas import InputModel
from app.edge.examples import SCHEMA_REF, declared
from app.main import create_app

BINARY = "application/pdf"
"""A PDF's bytes are no example anyone reads: a report's PDF is the exception, and its JSON,
JSON Lines and CSV forms carry the example."""

Media = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(environment=Environment.test, database_url="sqlite+aiosqlite:///:memory:")
    made: dict[str, Any] = json.loads(json.dumps(create_app(settings).openapi()))
    return made


def bodies(document: dict[str, Any]) -> Iterator[Media]:
    """Each media type of each request body: the operations' and the webhooks' deliveries."""
    for section in ("paths", "webhooks"):
        for path, item in document.get(section, {}).items():
            for method, operation in item.items():
                for media_type, media in (
                    operation.get("requestBody", {}).get("content", {}).items()
                ):
                    yield f"{method.upper()} {path} body", media_type, media


def answers(document: dict[str, Any]) -> Iterator[Media]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if status.startswith("2"):
                    for media_type, media in answer.get("content", {}).items():
                        yield f"{method.upper()} {path} {status}", media_type, media


def examples_of(media: dict[str, Any], schemas: dict[str, Any]) -> list[Any]:
    if "example" in media:
        return [media["example"]]
    ref = media["schema"].get("$ref", "")
    resolved = schemas[ref.removeprefix(SCHEMA_REF)] if ref else media["schema"]
    return list(resolved.get("examples", []))


def test_every_body_and_success_answer_has_an_example(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    found = [*bodies(document), *answers(document)]
    without = [
        (where, media_type)
        for where, media_type, media in found
        if media_type != BINARY
        and not ("example" in media or declared(media.get("schema", {}), schemas))
    ]

    assert len(found) > 150
    assert without == []


def test_every_example_is_valid_under_its_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    invalid = []
    for where, media_type, media in [*bodies(document), *answers(document)]:
        validator = Draft202012Validator({**media["schema"], "components": document["components"]})
        for example in examples_of(media, schemas):
            invalid += [(where, media_type, e.message) for e in validator.iter_errors(example)]

    assert invalid == []


def input_models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    unseen: list[type[BaseModel]] = [InputModel]
    while unseen:
        model = unseen.pop()
        found[model.__name__] = model
        unseen += model.__subclasses__()
    return found


def test_every_body_example_is_taken_by_its_model(document: dict[str, Any]) -> None:
    """What the document shows a client is what the service takes: each request example
    passes its model's own checks (a receipt with its counterparty, a reason where needed),
    which a schema alone does not say."""
    schemas, models = document["components"]["schemas"], input_models()
    checked = 0
    for where, _, media in bodies(document):
        name = media["schema"].get("$ref", "").removeprefix(SCHEMA_REF)
        if name not in models:  # the FHIR resources (read by the service) and webhook payloads
            continue
        for example in examples_of(media, schemas):
            try:
                models[name].model_validate_json(json.dumps(example))
            except ValidationError as refused:
                pytest.fail(f"{where}: {refused}")
            checked += 1

    assert checked > 35
