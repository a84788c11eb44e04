"""Request bodies as JSON (RFC 8259) with nothing left to guess.

The json module keeps the last of a key given twice, takes ``NaN`` and ``Infinity`` and turns
a number past a double's range into infinity. A body is read once by a decoder whose hooks stop
at the first such thing (as fast as the json module's own reading: a length compared per
object); only then is it read again, marking what is refused, and walked to name where the
first mark is.
"""

import json
import math
from collections.abc import Iterator
from typing import Any

_INT64_DIGITS = 19
"""A JSON integer of more digits is past any field's bound (and the json module refuses one
of more than 4,300 with an error that names no place)."""

Path = tuple[str | int, ...]


class Refused(ValueError):
    """What a body may not hold, and where: ``path`` from the root, keys and indexes."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(detail)
        self.path = path
        self.detail = detail


def loads(document: bytes | str) -> Any:
    """``document`` parsed, or :class:`Refused` at the first thing it may not hold. A syntax
    error is refused as the body's (no field to point at), saying where it is as an editor
    does: a line and a column, never a bare character offset that reads like an index."""
    if not isinstance(document, str):  # as json.loads reads bytes
        try:
            document = document.decode(json.detect_encoding(document), "surrogatepass")
        except UnicodeDecodeError as error:
            detail = f"the body is not text (byte {error.start}): send JSON in UTF-8"
            raise Refused((), detail) from None
    try:
        return _DECODER.decode(document)
    except json.JSONDecodeError as error:
        detail = f"the body is not JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        raise Refused((), detail) from None
    except _Found:
        path, detail = next(_marks(_MARKING_DECODER.decode(document), ()))
        raise Refused(path, detail) from None


class _Found(Exception):
    """Something to refuse, found by the first reading."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) != len(pairs):
        raise _Found
    return made


def _constant(text: str) -> Any:
    raise _Found


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Found
    return value


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > _INT64_DIGITS:
        raise _Found
    return int(text)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_constant=_constant, parse_float=_float, parse_int=_integer
)


# The second reading: what is refused is left in place as a mark, found by a walk.


class _Mark:
    def __init__(self, detail: str) -> None:
        self.detail = detail


class _KeyTwice(dict[str, Any]):
    """An object in which ``key`` was given more than once."""

    key: str


def _marking_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) == len(pairs):
        return made
    twice = _KeyTwice(made)
    twice.key = _first_repeated(pairs)
    return twice


def _first_repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no key is repeated")


def _marking_constant(text: str) -> Any:
    return _Mark(f"{text} is not a JSON number")


def _marking_float(text: str) -> Any:
    value = float(text)
    shown = text if len(text) <= 20 else f"{text[:20]}..."
    return _Mark(f"{shown} is past what a double holds") if math.isinf(value) else value


def _marking_integer(text: str) -> Any:
    digits = len(text.lstrip("-"))
    if digits > _INT64_DIGITS:
        return _Mark(f"an integer of {digits} digits is past every bound")
    return int(text)


_MARKING_DECODER = json.JSONDecoder(
    object_pairs_hook=_marking_object,
    parse_constant=_marking_constant,
    parse_float=_marking_float,
    parse_int=_marking_integer,
)


def _marks(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Each mark under ``value`` with its path, in the order of the document."""
    if isinstance(value, _Mark):
        yield path, value.detail
    elif isinstance(value, dict):
        if isinstance(value, _KeyTwice):
            yield (*path, value.key), f"{value.key!r} is given more than once"
        for key, member in value.items():
            yield from _marks(member, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _marks(item, (*path, index))
