"""Examples of request bodies, written on their models: ``model_config = example({...})``.

What a client sends must make sense together (a dose with its lot, a reason where one is
needed), so each is written by hand, and a test validates each against its model. The answers'
examples, made from their schemas, are added to the OpenAPI document by
:mod:`app.edge.examples`.
"""

from typing import Any

from pydantic import ConfigDict


def example(value: dict[str, Any]) -> ConfigDict:
    """A model's config showing ``value`` as its example in the document (merged with the
    config its base declares)."""
    return ConfigDict(json_schema_extra={"examples": [value]})
