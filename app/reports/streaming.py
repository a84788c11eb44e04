"""A report's response: streamed from a read-only unit of work of its own, since the body is
written after the route returns and its request's unit of work has closed.

A stream is started in the route, up to its first rows, before the response starts: a database
that fails to serve is then answered with a status (503), where after a 200's headers only a
cut connection could tell the client.
"""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import RowMapping, Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.db import Database
from app.reports import pdf
from app.reports.scope import Scope
from app.reports.tabular import (
    MEDIA_TYPES,
    Chunks,
    Column,
    Format,
    Row,
    csv_lines,
    csv_stream,
    json_stream,
    jsonl_stream,
)

T = TypeVar("T")
RowSource = Callable[[AsyncSession], Chunks]
CsvParts = Callable[[AsyncSession], AsyncIterator["bytes | Select[*tuple[Any, ...]]"]]
"""A CSV PostgreSQL writes in parts: lines formatted by the report (:func:`csv_lines`), and
statements it copies, their cells formatted in SQL (each without its titles)."""
PeriodSource = Callable[[Scope, datetime, datetime], RowSource]
"""A report's rows for a registrant and the bounds of a period of its days."""
FETCH_ROWS = 1000
"""Rows fetched from the database, and written to the client, at a time."""


async def mapped(
    db: AsyncSession, query: Select[*tuple[Any, ...]], flatten: Callable[[RowMapping], Row]
) -> Chunks:
    """``query``'s rows, streamed from the database (a server-side cursor on PostgreSQL) as
    plain rows, without the ORM's per-row work, each made a report row by ``flatten``."""
    connection = await db.connection()
    result = await connection.stream(query.execution_options(yield_per=FETCH_ROWS))
    async for partition in result.mappings().partitions(FETCH_ROWS):
        yield [flatten(row) for row in partition]


_ANSWER = text("SELECT 1 AS database_answers")


async def read_after_start(db: AsyncSession, chunks: Chunks) -> Chunks:
    """``chunks``, but read only once the response has started (a report that must see what
    the audit log writes then): first an empty chunk, made when the database has answered, so
    that a database away is still answered with a 503 before the response starts."""
    await db.execute(_ANSWER)
    yield []
    async for chunk in chunks:
        yield chunk


async def as_chunks(rows: list[Row]) -> Chunks:
    """Rows computed at once (an inventory, a form's items: a few), as the writers take them."""
    yield rows


async def respond(
    request: Request,
    fmt: Format,
    head: dict[str, Any],
    columns: Sequence[Column],
    rows: RowSource,
    *,
    title: str,
    csv_by_database: Select[*tuple[Any, ...]] | CsvParts | None = None,
    signatures: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    records: str | None = None,
) -> Response:
    """The report in ``fmt``: JSON, JSON Lines and CSV streamed; a PDF made whole, when it
    is short enough to print. On PostgreSQL, a report that gives ``csv_by_database`` (its
    cells formatted in SQL, :mod:`app.reports.pg_text`) has its CSV written by the database.
    A printed report ends with a line to sign for each of ``signatures``; one of ``records``
    prints each row as a record of its own (a patient's sessions), not as a table's row."""
    database: Database = request.app.state.database
    # The route has read what it needed: its connection goes back to the pool before the
    # report takes one, so that a report holds one connection at a time, not two.
    await request.state.session.close()
    filename = f"{head['report']}-{head['registrant']['dea_number'] or 'platform'}.{fmt.value}"
    headers = {} if fmt is Format.json else {
        "Content-Disposition": f'attachment; filename="{filename}"'
    }  # fmt: skip
    if fmt is Format.pdf:
        limit: int = request.app.state.settings.report_pdf_max_rows
        found = await _collected(database, rows, limit)
        printed = await asyncio.to_thread(
            functools.partial(pdf.render, signatures=signatures, labels=labels, records=records),
            head,
            title,
            columns,
            found,
        )
        return Response(printed, media_type=MEDIA_TYPES[fmt], headers=headers)

    if fmt is Format.csv and csv_by_database is not None and database.is_postgresql:
        zone = head["registrant"]["timezone"]
        titles = csv_lines([column.title for column in columns])
        copied = await started(_copied(database, csv_by_database, zone, titles))
        return StreamingResponse(copied, media_type=MEDIA_TYPES[fmt], headers=headers)

    async def body() -> AsyncIterator[bytes]:
        async with database.session(write=False) as db:
            source = await started(rows(db))  # no byte is written before the rows come
            if fmt is Format.csv:
                chunks = csv_stream(columns, source)
            elif fmt is Format.jsonl:
                chunks = jsonl_stream(columns, source)
            else:
                chunks = json_stream(head, columns, source)
            async for chunk in chunks:
                yield chunk

    return StreamingResponse(await started(body()), media_type=MEDIA_TYPES[fmt], headers=headers)


async def started(items: AsyncIterator[T]) -> AsyncIterator[T]:
    """``items``, its first one made now: what fails to start fails here (see the module's
    docstring)."""
    try:
        first = await anext(items)
    except StopAsyncIteration:
        return _resumed((), items)
    return _resumed((first,), items)


async def _resumed(made: tuple[T, ...], rest: AsyncIterator[T]) -> AsyncIterator[T]:
    for item in made:
        yield item
    async for item in rest:
        yield item


COPY_QUEUE = 8
"""Chunks of COPY output held at most while the client reads: memory stays flat."""


async def _copied(
    database: Database, query: "Select[*tuple[Any, ...]] | CsvParts", timezone: str,
    titles: bytes,
) -> AsyncIterator[bytes]:  # fmt: skip
    """``COPY (query) TO STDOUT`` as CSV with its titles, instants on ``timezone``, passed on
    as PostgreSQL writes it; the copy waits while the client is slower. A report in parts
    gets ``titles``, then each part: its own lines as they are, each statement copied."""
    async with database.session(write=False) as db:
        connection = await db.connection()
        await connection.execute(select(func.set_config("TimeZone", timezone, True)))
        if isinstance(query, Select):
            async for chunk in _copy(connection, query, header=True):
                yield chunk
            return
        yield titles
        async for part in query(db):
            if isinstance(part, bytes):
                yield part
                continue
            async for chunk in _copy(connection, part, header=False):
                yield chunk


async def _copy(
    connection: AsyncConnection, query: Select[*tuple[Any, ...]], *, header: bool
) -> AsyncIterator[bytes]:
    """One ``COPY (query) TO STDOUT`` on ``connection``, its chunks as they come."""
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    parameters = compiled.construct_params()
    arguments = [parameters[name] for name in compiled.positiontup or ()]
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=COPY_QUEUE)

    async def kept(data: bytes | bytearray | memoryview) -> None:
        await chunks.put(bytes(data))  # the driver's buffer is its own

    async def copy() -> None:
        await driver.copy_from_query(str(compiled), *arguments, output=kept,
                                     format="csv", header=header)  # fmt: skip
        await chunks.put(None)  # the end, only when the copy ends by itself

    task = asyncio.create_task(copy())
    try:
        while (chunk := await _next_chunk(chunks, task)) is not None:
            yield chunk
    finally:
        if not task.done():
            # The client went away: stop the copy before the connection is given back,
            # and give it back broken (a COPY cut short leaves it mid-protocol).
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            await connection.invalidate()


async def _next_chunk(
    chunks: asyncio.Queue[bytes | None], copy: asyncio.Task[None]
) -> bytes | None:
    """The copy's next chunk (None at its end), or its error if it failed (it then puts no
    end). What it queued before it finished is read first."""
    while True:
        if not chunks.empty():
            return chunks.get_nowait()
        if copy.done():
            copy.result()  # raises what stopped the copy
            return None
        getter = asyncio.ensure_future(chunks.get())
        await asyncio.wait({getter, copy}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()  # the copy ended first: look again (the queue keeps its items)


async def _collected(database: Database, rows: RowSource, limit: int) -> list[Row]:
    found: list[Row] = []
    async with database.session(write=False) as db:
        async for chunk in rows(db):
            found.extend(chunk)
            if len(found) > limit:
                raise pdf.PdfTooLong(
                    f"more than {limit} rows: ask for format=csv or format=jsonl, which stream"
                )
    return found


def documented(columns: Sequence[Column], about: dict[str, Any]) -> dict[int | str, Any]:
    """The OpenAPI description of a report's 200 answer in every format, from its columns."""
    item = {
        "type": "object",
        "properties": {
            column.name: {"title": column.title, "description": column.description}
            for column in columns
        },
    }
    document = {
        "type": "object",
        "properties": {
            "report": {"type": "string"},
            "registrant": {"type": "object"},
            **about,
            "generated_at": {"type": "string", "format": "date-time"},
            "generated_by": {"type": "string", "description": "who pulled the report"},
            "items": {"type": "array", "items": item},
        },
    }
    return {
        200: {
            "description": "The report: JSON (the default), JSON Lines (one item per line) or "
            "CSV (a title row, then one row per item), streamed; or PDF, printed, when it has "
            "no more rows than the service prints (a pdf-too-long problem otherwise).",
            "content": {
                MEDIA_TYPES[Format.json]: {"schema": document},
                MEDIA_TYPES[Format.jsonl]: {"schema": item},
                MEDIA_TYPES[Format.csv]: {
                    "schema": {"type": "string"},
                    "example": ",".join(column.title for column in columns) + "\r\n",
                },
                MEDIA_TYPES[Format.pdf]: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


def documented_form(about: dict[str, Any]) -> dict[int | str, Any]:
    """The OpenAPI description of a form's 200 answer: its fields in JSON, or printed."""
    document = {"type": "object", "properties": {
        "report": {"type": "string"}, "registrant": {"type": "object"}, **about,
        "generated_at": {"type": "string", "format": "date-time"},
        "generated_by": {"type": "string", "description": "who pulled the form"},
    }}  # fmt: skip
    return {200: {
        "description": "The form: its fields in JSON (the default), or printed as PDF with "
        "lines to sign.",
        "content": {MEDIA_TYPES[Format.json]: {"schema": document},
                    MEDIA_TYPES[Format.pdf]: {"schema": {"type": "string", "format": "binary"}}},
    }}  # fmt: skip
