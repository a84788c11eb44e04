"""Examples in the OpenAPI document: one on every request body and every success answer.

A request body's example is written by hand on its model (``model_config = example({...})``,
:func:`app.core.examples.example`). An answer whose schema declares none is given one made
from its schema here: each field's own example where it has one (a quantity, an instant), else
what the request examples send in a field of that name (a registrant's name and DEA number),
else a value of its type and format. Tests validate every example against the schema it
illustrates.
"""

from collections.abc import Iterator
from typing import Any

SCHEMA_REF = "#/components/schemas/"

_FORMATS = {
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date-time": "2026-03-02T09:30:00-06:00",
    "date": "2026-03-02",
    "uri": "https://receiver.example.org/csledger",
    "email": "compliance@clinic.example.org",
}


def declared(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether ``schema`` (or what it refers to) carries an example of its own."""
    return "examples" in _resolved(schema, schemas) or "example" in schema


def add_answer_examples(document: dict[str, Any]) -> None:
    """An example on whatever the service sends whose schema has none: every success answer,
    and every webhook delivery's body."""
    maker = _Maker(document)
    for media in _sent(document):
        schema = media.get("schema")
        if schema is not None and "example" not in media and not declared(schema, maker.schemas):
            media["example"] = maker.value_of(schema)


class _Maker:
    """Values for a schema: its own example, else its parts'. A text field with none takes
    what a request example sends in a field of its name, the resource's own first
    (``RegistrantOut``'s ``name`` is ``RegistrantCreate``'s), else a value of its format,
    else its title."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.schemas: dict[str, Any] = document["components"]["schemas"]
        self.sent: dict[str, Any] = {}
        for schema in self.schemas.values():
            for example in schema.get("examples", []):
                self._remember(example)

    def value_of(
        self, schema: dict[str, Any], name: str | None = None, sent: dict[str, Any] | None = None
    ) -> Any:
        schema = _resolved(schema, self.schemas)
        if "examples" in schema:
            return schema["examples"][0]
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            given = (sent or {}).get(name or "")
            return given if given in schema["enum"] else schema["enum"][0]
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            typed = [branch for branch in branches if branch.get("type") != "null"]
            return self.value_of((typed or branches)[0], name, sent)
        return self._of_type(schema, name, sent or {})

    def _of_type(self, schema: dict[str, Any], name: str | None, around: dict[str, Any]) -> Any:
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            parts = schema.get("properties", {})
            own = self._created_as(schema.get("title", ""))
            return {part: self.value_of(of, part, own) for part, of in parts.items()}
        if kind == "array":
            return [self.value_of(schema.get("items", {}))]
        sent = around.get(name or "", self.sent.get(name or ""))
        if kind == "string":
            fallback = _FORMATS.get(schema.get("format", ""), schema.get("title", "text"))
            plain = "format" not in schema and "pattern" not in schema
            return sent if plain and isinstance(sent, str) else fallback
        if kind == "integer":
            return int(schema.get("minimum", 1))
        if kind == "number":
            return schema.get("minimum", 1)
        if kind == "boolean":
            return True
        return sent  # untyped: a report's column, whatever its rows hold

    def _created_as(self, title: str) -> dict[str, Any]:
        """The example that creates what ``title`` (``RegistrantOut``) shows, if one does."""
        created = self.schemas.get(title.removesuffix("Out") + "Create", {})
        examples = created.get("examples") or [{}]
        return dict(examples[0])

    def _remember(self, example: Any) -> None:
        if isinstance(example, dict):
            for name, value in example.items():
                if isinstance(value, dict | list):
                    self._remember(value)
                else:
                    self.sent.setdefault(name, value)
        elif isinstance(example, list):
            for item in example:
                self._remember(item)


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
