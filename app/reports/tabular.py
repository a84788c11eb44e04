"""A report as a table: its columns, defined once, and the formats it streams in.

A report is a header (what it is about: registrant, period or instant) and rows, which come
in chunks (a database fetch at a time). Each column names a field of the row and the title
printed over it. The same definition writes JSON, JSON Lines and CSV a chunk at a time, so a
report of any length is written in constant memory. Cells are converted by their type
through one table, which costs a dictionary lookup per cell: at a million rows, the cost
per cell is most of the cost of a report.
"""

import csv
import io
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson

from app.core.instants import printed_instant
from app.core.quantity import format_quantity

Row = Mapping[str, Any]
Chunks = AsyncIterator[Sequence[Row]]


class Format(StrEnum):
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    pdf = "pdf"


MEDIA_TYPES = {
    Format.json: "application/json",
    Format.jsonl: "application/jsonl",
    Format.csv: "text/csv; charset=utf-8",
    Format.pdf: "application/pdf",
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    """The row's field, and the item's key in JSON."""
    title: str
    description: str = ""
    printed: bool = True
    """Printed in the PDF (ids, which a printed page cannot follow, are not)."""


class _Converters(dict[type, Callable[[Any], Any]]):
    """Cell converters by exact type; a type met for the first time takes its first base's
    converter (a driver's own UUID class is a UUID), or none, and is remembered."""

    def __missing__(self, kind: type) -> Callable[[Any], Any]:
        found = next((convert for base, convert in self.items() if issubclass(kind, base)),
                     _as_is)  # fmt: skip
        self[kind] = found
        return found


def _as_is(value: Any) -> Any:
    return value


_TEXT = _Converters({
    bool: _as_is,
    Decimal: format_quantity,
    datetime: datetime.isoformat,
    date: date.isoformat,
    uuid.UUID: str,
})  # fmt: skip
"""Decimals as the API shows quantities ("12.5"), instants RFC 3339, dates ISO; strings,
integers, booleans, lists and null as they are. (bool first: it is an int.)"""
_CSV_TEXT = _Converters({
    **_TEXT,
    bool: lambda value: "true" if value else "false",
    type(None): lambda _: "",
    list: "; ".join,
})  # fmt: skip


def _converted(values: list[Any], table: _Converters) -> list[Any]:
    return [table[type(v)](v) for v in values]


def _values(names: Sequence[str], row: Row) -> list[Any]:
    return [row[name] for name in names]


async def csv_stream(columns: Sequence[Column], chunks: Chunks) -> AsyncIterator[bytes]:
    """CSV (RFC 4180, lines ending in LF): a title row, then one row per item; lists joined
    with "; "."""
    names = [column.name for column in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=_CRLF)
    yield _csv_line(writer, buffer, [column.title for column in columns]).encode()
    async for chunk in chunks:
        lines = [_csv_line(writer, buffer, _converted(_values(names, row), _CSV_TEXT))
                 for row in chunk]  # fmt: skip
        yield "".join(lines).encode()


_CRLF = "\r\n"


def csv_lines(*records: list[Any]) -> bytes:
    """Records of cells already text (titles, or :func:`csv_cells`), as :func:`csv_stream`
    writes them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=_CRLF)
    return "".join(_csv_line(writer, buffer, cells) for cells in records).encode()


def csv_cells(columns: Sequence[Column], row: Row) -> list[Any]:
    """A row's cells as CSV writes them."""
    return _converted(_values([column.name for column in columns], row), _CSV_TEXT)


def _csv_line(writer: Any, buffer: io.StringIO, cells: list[Any]) -> str:
    """One record, ending in LF as PostgreSQL's COPY ends them (so a report reads the same on
    either database). It is written ending in CRLF and cut back, so that a cell holding a
    carriage return alone is quoted, as COPY quotes it."""
    writer.writerow(cells)
    line = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return line[: -len(_CRLF)] + "\n"


_PRINTED_TEXT = _Converters({
    **_CSV_TEXT,
    bool: lambda value: "yes" if value else "no",
    datetime: printed_instant,
})  # fmt: skip
"""As in CSV, but instants as a person reads them: "2026-03-02 10:15 CST" (each report
gives them on the registrant's clock)."""


def printed_cells(columns: Sequence[Column], row: Row) -> list[str]:
    """A row's cells as the printed page shows them."""
    names = [c.name for c in columns]
    return [str(cell) for cell in _converted(_values(names, row), _PRINTED_TEXT)]


def items(columns: Sequence[Column], chunk: Sequence[Row]) -> list[dict[str, Any]]:
    """A chunk's rows as JSON items."""
    names = [column.name for column in columns]
    return [dict(zip(names, _converted(_values(names, row), _TEXT), strict=True)) for row in chunk]


async def jsonl_stream(columns: Sequence[Column], chunks: Chunks) -> AsyncIterator[bytes]:
    """One JSON object per line, one line per item."""
    async for chunk in chunks:
        yield b"".join(orjson.dumps(item) + b"\n" for item in items(columns, chunk))


async def json_stream(
    head: dict[str, Any], columns: Sequence[Column], chunks: Chunks
) -> AsyncIterator[bytes]:
    """``head``'s fields, then ``items``: one JSON document, written as the rows come."""
    opening = orjson.dumps(head)
    yield opening[:-1] + (b',"items":[' if len(opening) > 2 else b'"items":[')
    first = True
    async for chunk in chunks:
        if not chunk:
            continue
        written = orjson.dumps(items(columns, chunk))[1:-1]
        yield written if first else b"," + written
        first = False
    yield b"]}"
