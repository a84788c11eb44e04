"""Inserting many rows of one table in one statement.

On PostgreSQL an executemany is a statement per row for the server and a parameter set per row
for SQLAlchemy; here the rows go as one array per column instead::

    INSERT INTO t (a, b) SELECT * FROM unnest(CAST(:c0 AS uuid[]), CAST(:c1 AS bigint[]))

one statement, one round trip, the values converted by the same column types as any insert
(quantities to thousandths, timestamps to UTC, JSON to text); several such statements can go
as one (:func:`run_together`). SQLite runs in-process, where an executemany costs no round
trips; it keeps one.

Rows given as :class:`Insert` s can be gathered from many requests into one statement per table
(:func:`parts_of`): the ledger's writer commits a group of requests' rows that way.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, TextClause, insert, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class Part:
    """One data-modifying statement (SQL with named parameters) of a :func:`run_together`."""

    sql: str
    parameters: dict[str, Any]
    check: Callable[[int], None] | None = None
    """Given the number of rows the statement returned (its SQL ends in ``RETURNING``); raises
    when that number says the write must not stand (a conditional update that matched none)."""


@dataclass(frozen=True, slots=True)
class Insert:
    """Rows to insert into ``table``, mappings with the same keys; with ``refused``, a row whose
    key is present already is skipped (``ON CONFLICT DO NOTHING``) and refuses the write with
    the error ``refused`` makes."""

    table: Table
    rows: list[dict[str, Any]]
    refused: Callable[[], Exception] | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    processors: tuple[Callable[[Any], Any] | None, ...]


async def insert_rows(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows``, mappings with the same keys (column names), in the caller's transaction."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        await session.execute(insert(table), list(rows))
        return
    part = insert_part(dialect, table, rows, tag="c")
    await session.execute(_text(part.sql), part.parameters)


def insert_part(
    dialect: Dialect, table: Table, rows: Sequence[Mapping[str, Any]], tag: str
) -> Part:
    """PostgreSQL: the INSERT over arrays of ``rows`` (at least one), parameters named
    ``tag`` and a number."""
    columns = tuple(rows[0])
    plan = _plan(table, columns, dialect, tag)
    arrays = {}
    for position, (name, process) in enumerate(zip(columns, plan.processors, strict=True)):
        values = [row[name] for row in rows]
        arrays[f"{tag}{position}"] = [process(v) for v in values] if process else values
    return Part(plan.sql, arrays)


async def run_together(session: AsyncSession, parts: Sequence[Part]) -> None:
    """PostgreSQL: the parts as one statement, each a common table expression of it, sent in one
    round trip. They run on one snapshot and see none of each other's rows, but constraints are
    checked when the statement ends, so a row may reference one another part inserts. Each
    part's ``check`` is then given its count of rows."""
    if not parts:
        return
    checked = [part for part in parts if part.check is not None]
    if len(parts) == 1 and not checked:
        await session.execute(_text(parts[0].sql), parts[0].parameters)
        return
    ctes = ", ".join(f"part_{index} AS ({part.sql})" for index, part in enumerate(parts))
    counts = ", ".join(f"(SELECT count(*) FROM part_{index})"  # noqa: S608 - numbers only
                       for index, part in enumerate(parts) if part.check is not None)  # fmt: skip
    parameters = {name: value for part in parts for name, value in part.parameters.items()}
    result = await session.execute(_text(f"WITH {ctes} SELECT {counts or 1}"), parameters)
    row = result.one()
    for part, count in zip(checked, row if checked else (), strict=True):
        assert part.check is not None
        part.check(int(count))


def parts_of(dialect: Dialect, inserts: Sequence[Insert]) -> list[Part]:
    """PostgreSQL: ``inserts`` as parts of one statement (:func:`run_together`), the rows of
    each table (and columns, and refusal) gathered into one part; a part refuses, after the
    statement, when it skipped any row."""
    gathered: dict[tuple[Table, tuple[str, ...], Any], list[dict[str, Any]]] = {}
    for each in inserts:
        if each.rows:
            key = (each.table, tuple(each.rows[0]), each.refused)
            gathered.setdefault(key, []).extend(each.rows)
    return [_insert_part(dialect, table, rows, f"i{n}_", refused)
            for n, ((table, _, refused), rows) in enumerate(gathered.items())]  # fmt: skip


def _insert_part(
    dialect: Dialect,
    table: Table,
    rows: list[dict[str, Any]],
    tag: str,
    refused: Callable[[], Exception] | None,
) -> Part:
    part = insert_part(dialect, table, rows, tag)
    if refused is None:
        return part

    def check(inserted: int) -> None:
        if inserted != len(rows):
            raise refused()

    return Part(part.sql + " ON CONFLICT DO NOTHING RETURNING 1", part.parameters, check)


async def write(session: AsyncSession, inserts: Sequence[Insert]) -> None:
    """Insert ``inserts`` in the caller's transaction: on PostgreSQL as one statement, on SQLite
    (whose writers take turns, so no row can appear meanwhile) a statement per table."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        await run_together(session, parts_of(dialect, inserts))
        return
    for each in inserts:
        await insert_rows(session, each.table, each.rows)


@lru_cache(maxsize=256)
def _text(sql: str) -> TextClause:
    """Parsed once per distinct statement (parsing finds the parameters with a regex)."""
    return text(sql)


@lru_cache(maxsize=64)
def _plan(table: Table, columns: tuple[str, ...], dialect: Dialect, tag: str) -> _Plan:
    types = [table.columns[name].type for name in columns]
    arrays = ", ".join(
        f"CAST(:{tag}{position} AS {type_.compile(dialect=dialect)}[])"
        for position, type_ in enumerate(types)
    )
    names = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    target = dialect.identifier_preparer.format_table(table)
    # Only quoted identifiers and compiled type names are formatted in; values are parameters.
    sql = f"INSERT INTO {target} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
    return _Plan(
        sql=sql,
        processors=tuple(type_.dialect_impl(dialect).bind_processor(dialect) for type_ in types),
    )
