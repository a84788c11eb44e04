"""A report as a table: its columns, defined once, and the formats it streams in.

A report is a header (what it is about: registrant, period or instant) and rows. Each column
names a field, the title printed over it, and how a cell is made from a row. The same
definition writes JSON, JSON Lines and CSV, a chunk of rows at a time, so a report of any
length is written in constant memory.
"""

import csv
import io
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson

from app.core.quantity import format_quantity

Row = Mapping[str, Any]
Cell = str | int | bool | list[str] | None


class Format(StrEnum):
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


MEDIA_TYPES = {
    Format.json: "application/json",
    Format.jsonl: "application/jsonl",
    Format.csv: "text/csv; charset=utf-8",
}
CHUNK_ROWS = 1000
"""Rows written to the client at a time."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    title: str
    cell: Callable[[Row], Cell]
    description: str = ""


def field(name: str, title: str, description: str = "", *, source: str | None = None) -> Column:
    """A column whose cell is the row's ``source`` (default ``name``) value, as text where it
    is a number or an instant."""
    key = source or name
    return Column(name, title, lambda row: text(row[key]), description)


def text(value: Any) -> Cell:
    """A value as a report cell: decimals as the API shows them ("12.5"), instants RFC 3339,
    dates ISO."""
    if isinstance(value, Decimal):
        return format_quantity(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | bool | list):
        return value
    return str(value)


def cells(columns: Sequence[Column], row: Row) -> dict[str, Cell]:
    return {column.name: column.cell(row) for column in columns}


async def _chunks(rows: AsyncIterator[Row]) -> AsyncIterator[list[Row]]:
    chunk: list[Row] = []
    async for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def csv_stream(columns: Sequence[Column], rows: AsyncIterator[Row]) -> AsyncIterator[bytes]:
    """RFC 4180 CSV: a title row, then one row per item; lists joined with "; "."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.title for column in columns])
    yield _drain(buffer)
    async for chunk in _chunks(rows):
        writer.writerows([_csv_cell(column.cell(row)) for column in columns] for row in chunk)
        yield _drain(buffer)


def _csv_cell(cell: Cell) -> str | int:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, list):
        return "; ".join(cell)
    return cell


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return data


async def jsonl_stream(columns: Sequence[Column], rows: AsyncIterator[Row]) -> AsyncIterator[bytes]:
    """One JSON object per line, one line per item."""
    async for chunk in _chunks(rows):
        yield b"".join(orjson.dumps(cells(columns, row)) + b"\n" for row in chunk)


async def json_stream(
    head: dict[str, Any], columns: Sequence[Column], rows: AsyncIterator[Row]
) -> AsyncIterator[bytes]:
    """``head``'s fields, then ``items``: one JSON document, written as the rows come."""
    opening = orjson.dumps(head)
    yield opening[:-1] + (b',"items":[' if len(opening) > 2 else b'"items":[')
    first = True
    async for chunk in _chunks(rows):
        items = b",".join(orjson.dumps(cells(columns, row)) for row in chunk)
        yield items if first else b"," + items
        first = False
    yield b"]}"
