"""Canonical JSON: the exact bytes a ledger event's hash is computed over.

The rules, which every verifier (ours or an auditor's) must follow to get the same bytes:

- UTF-8, no insignificant whitespace, object keys sorted by code point, at every depth;
- strings as JSON strings, non-ASCII characters as themselves (not ``\\u`` escapes);
- integers as JSON integers within 64 bits (quantities are integers of a minor unit); no
  floats, ever;
- ids (UUIDs) as lower-case hyphenated strings;
- timestamps as RFC 3339 in UTC with exactly six fractional digits and ``Z``
  (``2026-03-02T15:00:00.000000Z``); dates as ``YYYY-MM-DD``;
- ``true``, ``false`` and ``null`` as themselves; arrays keep their order.
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class NotCanonical(TypeError):
    pass


def format_timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise NotCanonical("timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):  # a driver's subclass (asyncpg's), which orjson skips
        return str(value)
    raise NotCanonical(f"{type(value).__name__} has no canonical form")


def check(value: Any) -> None:
    """Refuse what canonical JSON does not allow (floats, non-string keys, unknown types)."""
    if not _allowed(value):
        _explain(value, "$")  # the slow walk, for the path of what is wrong


_PLAIN = frozenset({str, bool, type(None), uuid.UUID, date})


def _allowed(value: Any) -> bool:
    """Whether ``value`` has a canonical form: a fast walk on exact types, no messages.

    Loops rather than ``all(...)`` and scalars tested in line: the write path checks every
    event's body, and generators and calls are what it would cost."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _PLAIN and not _allowed(item)):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:  # noqa: SIM110 - a loop, not all(): see above
            if type(item) not in _PLAIN and not _allowed(item):
                return False
        return True
    if kind is int:
        return bool(_INT64_MIN <= value <= _INT64_MAX)
    if isinstance(value, datetime):
        return value.tzinfo is not None
    # Subclasses (a driver's UUID, a str enum) have the canonical form of their base; floats and
    # anything else go to the slow walk, which says what and where.
    return isinstance(value, uuid.UUID | date | str)


def _explain(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise NotCanonical(f"{path}: integers are limited to 64 bits")
        return
    if isinstance(value, float):
        raise NotCanonical(f"{path}: floats are not allowed; use integers of a minor unit")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonical(f"{path}: object keys must be strings")
            _explain(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _explain(item, f"{path}[{index}]")
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise NotCanonical(f"{path}: timestamps must be timezone-aware")
    elif not isinstance(value, uuid.UUID | date):
        raise NotCanonical(f"{path}: {type(value).__name__} has no canonical form")


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of ``value`` (checked first)."""
    check(value)
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def canonical_json_unchecked(value: Any) -> bytes:
    """The same bytes without the walk, for bodies already checked when they were written."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)
