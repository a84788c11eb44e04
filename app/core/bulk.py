"""Inserting many rows of one table in one statement.

On PostgreSQL an executemany is a statement per row for the server and a parameter set per row
for SQLAlchemy; here the rows go as one array per column instead::

    INSERT INTO t (a, b) SELECT * FROM unnest(CAST(:c0 AS uuid[]), CAST(:c1 AS bigint[]))

one statement, one round trip, the values converted by the same column types as any insert
(quantities to thousandths, timestamps to UTC, JSON to text). SQLite runs in-process, where an
executemany costs no round trips; it keeps one.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, TextClause, insert, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class _Plan:
    statement: TextClause
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
    columns = tuple(rows[0])
    plan = _plan(table, columns, dialect)
    arrays = {}
    for position, (name, process) in enumerate(zip(columns, plan.processors, strict=True)):
        values = [row[name] for row in rows]
        arrays[f"c{position}"] = [process(v) for v in values] if process else values
    await session.execute(plan.statement, arrays)


@lru_cache(maxsize=64)
def _plan(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Plan:
    types = [table.columns[name].type for name in columns]
    arrays = ", ".join(
        f"CAST(:c{position} AS {type_.compile(dialect=dialect)}[])"
        for position, type_ in enumerate(types)
    )
    names = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    target = dialect.identifier_preparer.format_table(table)
    # Only quoted identifiers and compiled type names are formatted in; values are parameters.
    sql = f"INSERT INTO {target} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
    return _Plan(
        statement=text(sql),
        processors=tuple(type_.dialect_impl(dialect).bind_processor(dialect) for type_ in types),
    )
