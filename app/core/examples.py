"""Examples in the OpenAPI document: one on every request body and every success answer.

A request body's example is written by hand on its model (``model_config = example({...})``):
what a client sends must make sense together (a dose with its lot, a reason where one is
needed), and a test validates each against its model. An answer whose schema declares none
is given one made from its schema here: each field's own example where it has one (a
quantity, an instant, a DEA number), else a value of its type and format. Tests validate every
example against the schema it illustrates.
"""

from collections.abc import Iterator
from typing import Any

from pydantic import ConfigDict

SCHEMA_REF = "#/components/schemas/"

_FORMATS = {
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date-time": "2026-03-02T09:30:00-06:00",
    "date": "2026-03-02",
    "uri": "https://receiver.example.org/csledger",
    "email": "compliance@clinic.example.org",
}


def example(value: dict[str, Any]) -> ConfigDict:
    """A model's config showing ``value`` as its example in the document (merged with the
    config its base declares)."""
    return ConfigDict(json_schema_extra={"examples": [value]})


def declared(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether ``schema`` (or what it refers to) carries an example of its own."""
    return "examples" in _resolved(schema, schemas) or "example" in schema


def made_from(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """A value ``schema`` takes, from the examples of its parts where they have one."""
    schema = _resolved(schema, schemas)
    if "examples" in schema:
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        typed = [branch for branch in branches if branch.get("type") != "null"]
        return made_from((typed or branches)[0], schemas)
    return _of_type(schema, schemas)


def add_answer_examples(document: dict[str, Any]) -> None:
    """An example on whatever the service sends whose schema has none: every success answer,
    and every webhook delivery's body."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    for media in _sent(document):
        schema = media.get("schema")
        if schema is not None and "example" not in media and not declared(schema, schemas):
            media["example"] = made_from(schema, schemas)


def _sent(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in document["paths"].values():
        for operation in item.values():
            for status, answer in operation.get("responses", {}).items():
                if status.startswith("2"):
                    yield from answer.get("content", {}).values()
    for item in document.get("webhooks", {}).values():
        for operation in item.values():
            yield from operation.get("requestBody", {}).get("content", {}).values()


def _resolved(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return schemas[ref.removeprefix(SCHEMA_REF)] if ref else schema


def _of_type(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: made_from(part, schemas) for name, part in properties.items()}
    if kind == "array":
        return [made_from(schema.get("items", {}), schemas)]
    if kind == "string":
        return _FORMATS.get(schema.get("format", ""), schema.get("title", "text"))
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    return None  # a report's column, whatever its rows hold
