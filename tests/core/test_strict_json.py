"""Request bodies as JSON: the same values as the json module, or a refusal naming where."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.strict_json import Refused, loads

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**18), max_value=10**18),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(document=documents)
def test_a_body_with_nothing_to_refuse_reads_as_the_json_module_reads_it(document):
    text = json.dumps(document)
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


@given(document=documents, key=st.text(max_size=5), path=st.lists(st.text(max_size=3), max_size=3))
def test_a_key_given_twice_is_refused_where_it_is(document, key, path):
    """``key`` given twice in an object nested under ``path``: the pointer names that member."""
    inner = f"{{{json.dumps(key)}: 1, {json.dumps(key)}: {json.dumps(document)}}}"
    text = inner
    for name in reversed(path):
        text = f"{{{json.dumps(name)}: {text}}}"
    with pytest.raises(Refused, match="more than once") as refused:
        loads(text)
    assert refused.value.path == (*path, key)


def test_the_first_mark_in_the_document_is_named():
    with pytest.raises(Refused) as refused:
        loads('{"a": [1, {"b": NaN}], "c": {"d": 1, "d": 2}}')
    assert refused.value.path == ("a", 1, "b")


def test_a_key_twice_in_an_array_item_is_pointed_at_by_its_index():
    with pytest.raises(Refused) as refused:
        loads('{"events": [{"quantity": "1"}, {"quantity": "1", "quantity": "1000"}]}')
    assert refused.value.path == ("events", 1, "quantity")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"quantity": NaN}', ("quantity",)),
        ('{"quantity": Infinity}', ("quantity",)),
        ('{"quantity": -Infinity}', ("quantity",)),
        ('{"quantity": 1e400}', ("quantity",)),
        ('[0, {"x": -1e1000}]', (1, "x")),
        ('{"n": 1' + "0" * 100 + "}", ("n",)),
        ('{"n": -12345678901234567890}', ("n",)),
        ("1" * 5000, ()),
    ],
)
def test_what_json_does_not_hold_or_no_field_takes_is_refused(text, path):
    with pytest.raises(Refused) as refused:
        loads(text)
    assert refused.value.path == path


def test_integers_up_to_19_digits_and_doubles_are_read():
    assert loads('[9223372036854775807, -9999999999999999999, 1e308, 0.1]') == [
        9223372036854775807, -9999999999999999999, 1e308, 0.1,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "where"),
    [('{"a": 1,}', "line 1, column 9"), ("{'a': 1}", "line 1, column 2"),
     ("", "line 1, column 1"), ('{"a": 1} x', "line 1, column 10"),
     ('{\n  "a": [1, 2\n}', "line 3, column 1")],
)  # fmt: skip
def test_a_syntax_error_is_the_bodys_and_says_its_line_and_column(text, where):
    with pytest.raises(Refused) as refused:
        loads(text)
    assert refused.value.path == ()
    assert refused.value.detail.startswith("the body is not JSON: ")
    assert refused.value.detail.endswith(where)
