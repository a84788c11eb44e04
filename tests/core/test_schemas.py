"""Every request body is taken as sent: text without control characters, JSON's own types for
booleans, integers and numbers, and every instant and day, in a body or a query, of one
grammar."""

from datetime import date, datetime
from typing import Annotated, Any, get_args

import pytest
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import iter_route_contexts
from hypothesis import given
from hypothesis import strategies as st
from pydantic import (
    AwareDatetime,
    FutureDate,
    FutureDatetime,
    NaiveDatetime,
    PastDate,
    PastDatetime,
    TypeAdapter,
    ValidationError,
)
from pydantic.fields import FieldInfo

from app.core.schemas import BIDI_CONTROLS, Address, Day, FreeText, InputModel, Instant, Name
from app.main import create_app


class Child(InputModel):
    name: Name


class Note(InputModel):
    title: Name
    body: FreeText | None = None
    tags: list[str] = []
    count: int | None = None
    ratio: float | None = None
    flag: bool = False
    child: Child | None = None


def refused_at(data: dict[str, Any], message: str) -> tuple[str | int, ...]:
    with pytest.raises(ValidationError, match=message) as refused:
        Note.model_validate(data)
    (error,) = refused.value.errors()
    return tuple(error["loc"])


controls = st.characters(categories=["Cc"])
"""C0, DEL and C1: exactly Unicode's control characters."""
surrogates = st.characters(categories=["Cs"])
bidi_controls = st.sampled_from(BIDI_CONTROLS)
printable = st.text(
    st.characters(exclude_categories=["Cc", "Cs"], exclude_characters=BIDI_CONTROLS),
    min_size=1, max_size=20,
)  # fmt: skip


@given(before=printable, control=controls, after=printable)
def test_a_control_character_is_refused_in_a_line_of_text(before, control, after):
    text = before + control + after
    assert refused_at({"title": text}, "a control character") == ("title",)
    assert refused_at({"title": "t", "tags": ["ok", text]}, "a control character") == ("tags",)
    assert refused_at({"title": "t", "child": {"name": text}}, "control") == ("child", "name")


@given(before=printable, control=controls, after=printable)
def test_free_text_takes_tab_and_line_breaks_and_no_other_control(before, control, after):
    text = before + control + after
    if control in "\t\n\r":
        assert Note(title="t", body=text).body == text.strip()
    else:
        assert refused_at({"title": "t", "body": text}, "a control character") == ("body",)


@given(surrogate=surrogates)
def test_a_lone_surrogate_is_refused(surrogate):
    assert refused_at({"title": f"a{surrogate}b"}, "a lone surrogate") == ("title",)


@given(before=printable, control=bidi_controls, after=printable)
def test_a_bidirectional_control_is_refused_in_any_text(before, control, after):
    """An override or isolate would show the text in another order than it is stored."""
    text = before + control + after
    assert refused_at({"title": text}, "a bidirectional control") == ("title",)
    assert refused_at({"title": "t", "body": text}, "a bidirectional control") == ("body",)


def test_a_right_to_left_mark_is_taken_in_a_name():
    """The marks only hint at direction; a name in a right-to-left script may need one."""
    name = "\u05d3\u05d5\u05d3 \u200f\u05db\u05d4\u05df"
    assert Note(title=name).title == name


@given(text=printable.filter(str.strip))
def test_printable_text_is_taken_without_its_surrounding_spaces(text):
    assert Note(title=text).title == text.strip()


def test_the_refusal_names_the_character_and_where_it_is():
    with pytest.raises(ValidationError, match=r"U\+0000\) at position 3"):
        Note(title="INV\x00-1")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("count", "1", "a JSON integer, not a string"),
        ("count", "1_000", "a JSON integer, not a string"),
        ("count", 1.0, "a JSON integer, not a number"),
        ("count", True, "a JSON integer, not true or false"),
        ("ratio", "1.5", "a JSON number, not a string"),
        ("ratio", False, "a JSON number, not true or false"),
        ("flag", "true", "true or false, not a string"),
        ("flag", "yes", "true or false, not a string"),
        ("flag", 1, "true or false, not an integer"),
    ],
)
def test_a_boolean_integer_or_number_field_takes_that_json_type_only(field, value, message):
    assert refused_at({"title": "t", field: value}, message) == (field,)


def test_json_types_are_taken_as_they_are():
    note = Note(title="t", count=3, ratio=1, flag=True)
    assert (note.count, note.ratio, note.flag) == (3, 1.0, True)
    assert Note(title="t", ratio=0.25, count=None).ratio == 0.25


@pytest.mark.parametrize(
    "code", ["\uff17\uff18\uff17\uff10\uff11", "\u0667\u0668\u0667\u0660\u0661"]
)
def test_a_postal_code_is_written_in_ascii_digits(code):
    address = {"line1": "100 Main St", "city": "Austin", "state": "TX"}
    assert Address(**address, postal_code="78701-1234").postal_code == "78701-1234"
    with pytest.raises(ValidationError, match="pattern"):
        Address(**address, postal_code=code)


# Every instant and day of the API, in a body or a query, is an Instant or a Day

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


def query_parameters() -> list[tuple[Any, Any, Any]]:
    app = create_app()
    return [
        (route.path, parameter.alias, parameter.field_info)
        for route in iter_route_contexts(app.routes)
        if getattr(route, "dependant", None) is not None
        for parameter in route.dependant.query_params
    ]


def taken(field: FieldInfo, value: str) -> bool:
    annotation: Any = field.annotation
    if field.metadata:
        annotation = Annotated[annotation, *field.metadata]
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def test_every_text_and_integer_of_every_query_is_held_as_in_a_body():
    """A NUL in a query reached PostgreSQL's text (a 500); "1_0" was a page of ten."""
    parameters = query_parameters()
    texts = [(path, name) for path, name, field in parameters if str in parts(field.annotation)]
    integers = [(path, name) for path, name, field in parameters if int in parts(field.annotation)]
    assert texts
    assert integers
    wrong = [
        f"{path} {name}"
        for path, name, field in parameters
        if (str in parts(field.annotation) and taken(field, "a\x00b"))
        or (int in parts(field.annotation) and (taken(field, "1_0") or taken(field, " 10")))
    ]
    assert wrong == []
