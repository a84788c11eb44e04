"""Every instant and day of the API, in a body or a query, is of one grammar: an Instant or
a Day."""

from datetime import date, datetime
from typing import Annotated, Any, get_args

from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import iter_route_contexts
from pydantic import (
    AwareDatetime,
    FutureDate,
    FutureDatetime,
    NaiveDatetime,
    PastDate,
    PastDatetime,
)
from pydantic.fields import FieldInfo

from app.core.schemas import Day, InputModel, Instant
from app.main import create_app

INSTANT_CHECK, DAY_CHECK = get_args(Instant)[1], get_args(Day)[1]


def parts(annotation: Any) -> list[Any]:
    """Every type and piece of metadata in ``annotation``, at any depth."""
    found = [annotation]
    for argument in get_args(annotation):
        found.extend(parts(argument))
    return found


INSTANT_TYPES = (datetime, AwareDatetime, NaiveDatetime, PastDatetime, FutureDatetime)
DAY_TYPES = (date, PastDate, FutureDate)


def plain_instants_and_days(field: FieldInfo) -> list[str]:
    """What in ``field`` is an instant or a day that is not an :data:`Instant` or a :data:`Day`."""
    found = [*field.metadata, *parts(field.annotation)]

    def holds(*wanted: Any) -> bool:
        return any(part is kind for part in found for kind in wanted)

    wrong = []
    if holds(*INSTANT_TYPES) and not holds(INSTANT_CHECK):
        wrong.append("datetime")
    if holds(*DAY_TYPES) and not holds(DAY_CHECK):
        wrong.append("date")
    return wrong


def input_models() -> list[type[InputModel]]:
    create_app()  # every domain's schemas imported
    found, pending = [], list(InputModel.__subclasses__())
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return sorted(set(found), key=lambda model: f"{model.__module__}.{model.__name__}")


def test_every_instant_and_day_of_every_body_is_an_instant_or_a_day():
    wrong = [
        f"{model.__name__}.{name}: {kind}"
        for model in input_models()
        if model.__module__.startswith("app.")
        for name, field in model.model_fields.items()
        for kind in plain_instants_and_days(field)
    ]
    assert wrong == []


def test_every_instant_and_day_of_every_query_is_an_instant_or_a_day():
    app = create_app()
    wrong = [
        f"{route.path} {parameter.name}: {kind}"
        for route in iter_route_contexts(app.routes)
        if getattr(route, "dependant", None) is not None
        for parameter in get_flat_params(route.dependant)
        for kind in plain_instants_and_days(parameter.field_info)
    ]
    assert wrong == []


def wrong_in(annotation: Any) -> list[str]:
    return plain_instants_and_days(FieldInfo.from_annotation(annotation))


def test_the_guard_sees_a_plain_instant_or_day():
    assert wrong_in(datetime | None) == ["datetime"]
    assert wrong_in(list[date]) == ["date"]
    assert wrong_in(AwareDatetime) == ["datetime"]
    assert wrong_in(Instant | None) == []
    assert wrong_in(Annotated[list[Day], "x"]) == []
