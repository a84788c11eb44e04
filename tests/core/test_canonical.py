"""Canonical JSON, checked against an independent encoder built from the spec."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core import canonical
from app.core.canonical import NotCanonical, canonical_json, canonical_json_unchecked

aware_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-6)), timezone(timedelta(hours=9))]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(),
    st.uuids(),
    aware_datetimes,
    st.dates(),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


def oracle(value):
    """The spec, written again with the standard library."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: oracle(v) for k, v in value.items()}
    if isinstance(value, list):
        return [oracle(v) for v in value]
    return value


@given(documents)
def test_canonical_json_follows_the_spec(document):
    expected = json.dumps(
        oracle(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert canonical_json(document) == expected
    assert canonical_json_unchecked(document) == expected


@given(st.dictionaries(st.text(), st.integers(-(2**63), 2**63 - 1), min_size=2))
def test_key_order_does_not_matter(mapping):
    assert canonical_json(mapping) == canonical_json(dict(reversed(list(mapping.items()))))


def test_timestamps_are_utc_with_microseconds_and_z():
    local = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=-6)))
    assert canonical_json({"at": local}) == b'{"at":"2026-03-02T15:00:00.000000Z"}'


def test_non_ascii_is_kept_as_utf8():
    assert canonical_json({"name": "Zoë"}) == '{"name":"Zoë"}'.encode()


@pytest.mark.parametrize(
    "value",
    [1.5, {"q": 0.1}, [1, 2.0], {1: "x"}, datetime(2026, 1, 1), {"d": b"bytes"}, 2**63],  # noqa: DTZ001
)
def test_what_has_no_canonical_form_is_refused(value):
    with pytest.raises(NotCanonical):
        canonical_json(value)


uncanonical = st.one_of(
    st.floats(allow_nan=True),
    st.integers(min_value=2**63),
    st.integers(max_value=-(2**63) - 1),
    st.binary(max_size=2),
    st.datetimes(),  # naive
)
mixed_documents = st.recursive(
    st.one_of(scalars, uncanonical),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.one_of(st.text(), st.integers()), children, max_size=4),
    ),
    max_leaves=20,
)


def refuses(value):
    try:
        canonical_json(value)
    except NotCanonical:
        return True
    return False


def refused_slowly(value):
    try:
        canonical._explain(value, "$")
    except NotCanonical:
        return True
    return False


@given(mixed_documents)
def test_the_fast_check_refuses_exactly_what_the_explaining_walk_refuses(document):
    assert refuses(document) == refused_slowly(document)


def test_a_refusal_names_where_the_value_is():
    with pytest.raises(NotCanonical, match=r"^\$\.outer\[1\]\.q: floats are not allowed"):
        canonical_json({"outer": ["fine", {"q": 0.5}]})
