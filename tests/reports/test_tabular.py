"""The report writers on their own: CSV as COPY writes it, JSON as one document."""

import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from app.reports.tabular import Column, csv_stream, json_stream, jsonl_stream

COLUMNS = [Column("name", "Name"), Column("quantity", "Quantity"), Column("when", "When"),
           Column("tags", "Tags"), Column("flag", "Flag"), Column("day", "Day")]  # fmt: skip
ROWS = [
    {"name": "Ada", "quantity": Decimal("12.500"), "when": datetime(2026, 3, 2, 15, tzinfo=UTC),
     "tags": ["a", "b"], "flag": True, "day": date(2026, 3, 2)},
    {"name": "line\rbreak, \"quoted\"", "quantity": Decimal(0), "when": None, "tags": [],
     "flag": False, "day": None},
]  # fmt: skip


async def chunks(rows: Sequence[dict[str, Any]]) -> AsyncIterator[Sequence[dict[str, Any]]]:
    yield rows


async def collected(stream: AsyncIterator[bytes]) -> str:
    return b"".join([part async for part in stream]).decode()


async def test_csv_lines_end_in_lf_and_a_lone_carriage_return_is_quoted():
    text = await collected(csv_stream(COLUMNS, chunks(ROWS)))
    assert text == (
        "Name,Quantity,When,Tags,Flag,Day\n"
        "Ada,12.5,2026-03-02T15:00:00+00:00,a; b,true,2026-03-02\n"
        '"line\rbreak, ""quoted""",0,,,false,\n'
    )


async def test_json_is_one_document_and_json_lines_one_item_a_line():
    document = json.loads(await collected(json_stream({"report": "x"}, COLUMNS, chunks(ROWS))))
    lines = (await collected(jsonl_stream(COLUMNS, chunks(ROWS)))).splitlines()
    assert document["report"] == "x"
    assert document["items"] == [json.loads(line) for line in lines]
    assert document["items"][0] == {"name": "Ada", "quantity": "12.5",
                                    "when": "2026-03-02T15:00:00+00:00", "tags": ["a", "b"],
                                    "flag": True, "day": "2026-03-02"}  # fmt: skip
    empty = json.loads(await collected(json_stream({"report": "x"}, COLUMNS, chunks([]))))
    assert empty == {"report": "x", "items": []}
