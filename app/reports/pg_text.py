"""PostgreSQL expressions that format a report cell exactly as the Python writers do
(:mod:`app.reports.tabular`): for a report PostgreSQL writes as CSV itself (``COPY``), so a
million rows come out at the database's speed and read the same as on SQLite. The tests hold
the two to one expected text."""

from typing import Any

from sqlalchemy import Numeric, Text, case, cast, column, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

SEPARATOR = "; "
"""How a list is joined in a CSV cell."""


def uuid(column: Any) -> ColumnElement[str]:
    return cast(column, Text)


def number(column: Any) -> ColumnElement[str]:
    return cast(column, Text)


def boolean(column: Any) -> ColumnElement[str]:
    return case((column.is_(True), "true"), (column.is_(False), "false"))


def minor_units(column: Any) -> ColumnElement[str]:
    """A stored quantity as :func:`app.core.quantity.format_minor` writes it ("12.5", "100")."""
    return cast(func.trim_scale(cast(column, Numeric) / 1000), Text)


def decimal_text(text: Any) -> ColumnElement[str]:
    """A decimal kept as text ("100.000") as the API shows it ("100")."""
    return cast(func.trim_scale(cast(text, Numeric)), Text)


def instant(column: Any) -> ColumnElement[str]:
    """RFC 3339 on the session's time zone, as ``datetime.isoformat`` writes it: fractions of
    a second only when there are some (one ``to_char``, the empty fraction cut)."""
    return func.replace(func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM'), ".000000", "")


def record(document: Any, **fields: Any) -> Any:
    """A JSON object's ``fields`` (name: type) as the columns of a row, parsed once
    (``json_to_record``): reading each field with ``->>`` parses the whole document again,
    and at a million rows that parsing is most of the report's time."""
    columns = [column(name, kind) for name, kind in fields.items()]
    return func.json_to_record(document).table_valued(*columns).render_derived(with_types=True)


def address_line(address: Any) -> Any:
    """As :func:`app.reports.snapshots.address_line`: NULL without an address."""
    street = func.concat_ws(", ", func.nullif(address["line1"].as_string(), ""),
                            func.nullif(address["line2"].as_string(), ""))  # fmt: skip
    return (
        street + ", " + address["city"].as_string() + ", " + address["state"].as_string() + " "
        + address["postal_code"].as_string()
    )  # fmt: skip


def joined(array: Any, key: str | None = None) -> Any:
    """A JSON array's strings (or each object's ``key``) joined as a CSV cell; NULL when
    empty, which CSV writes as an empty cell, as Python writes an empty list."""
    if key is None:
        texts = func.json_array_elements_text(array).table_valued("value").alias("element")
        return select(func.string_agg(texts.c.value, SEPARATOR)).scalar_subquery()
    objects = func.json_array_elements(array).table_valued("value").alias("element")
    item = cast(objects.c.value.op("->>")(literal(key, Text)), Text)
    return select(func.string_agg(item, SEPARATOR)).scalar_subquery()
