"""The perpetual inventory as CSV written by PostgreSQL: a place's opening and closing rows
formatted here, its lines copied (``COPY ... TO STDOUT``) with every cell formatted in SQL
as :func:`app.reports.perpetual.rows` and the CSV writer format it, at the database's speed
(a year of one lot is a million rows; docs/adr/0005)."""

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import JSON, Select, Text, Uuid, case, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Subquery

from app.registry.models import Staff
from app.reports import pg_text as sql
from app.reports.perpetual import (
    COLUMNS,
    Period,
    Place,
    edge,
    in_order,
    lines,
    places,
    references,
)
from app.reports.streaming import CsvParts
from app.reports.tabular import csv_cells, csv_lines

_witness = aliased(Staff)
_OF_PLACE = frozenset(("location_id", "location", "lot_id", "lot_number", "expires_on",
                       "product", "ndc", "strength", "unit"))  # fmt: skip
"""The cells every row of a place shares: written once, as text, into its statement."""


def csv_parts(period: Period) -> CsvParts:
    """Place by place: its opening row, its lines' statement, its closing row."""

    async def parts(db: AsyncSession) -> AsyncIterator[bytes | Select[Any]]:
        # A year of a lot costs PostgreSQL's JIT seconds of compiling for a plan that then
        # runs no faster, and without statistics (a table just loaded, autovacuum off) the
        # planner joins a line's postings, reversal and performer one line at a time:
        # neither for this transaction (bench/README.md, "Reports").
        for setting in ("jit", "enable_nestloop"):
            await db.execute(select(func.set_config(setting, "off", True)))
        for place in await places(db, period):
            yield csv_lines(csv_cells(COLUMNS, edge(period, place, closing=False)))
            yield _lines_statement(period, place)
            yield csv_lines(csv_cells(COLUMNS, edge(period, place, closing=True)))

    return parts


def _lines_statement(period: Period, place: Place) -> Select[Any]:
    found = lines(period, place)
    cells = {**_place_cells(place), **_line_cells(period, found)}
    return in_order(found, *(cells[column.name].label(column.title) for column in COLUMNS))


def _place_cells(place: Place) -> dict[str, Any]:
    row = dict.fromkeys(column.name for column in COLUMNS) | place.cells()
    shared = dict(zip((column.name for column in COLUMNS), csv_cells(COLUMNS, row), strict=True))
    return {name: literal(shared[name], Text) for name in _OF_PLACE}


def _line_cells(period: Period, found: Subquery) -> dict[str, Any]:
    """Each line's own cells, formatted as :func:`app.reports.perpetual._row` formats them;
    instants on the session's time zone, which the caller sets to the registrant's."""
    c, named = found.c, references(found)
    delta, counted, balance = c.delta, c.counted, c.balance
    return {
        "entry": c.type, "event_id": sql.uuid(c.event_id), "sequence": sql.number(c.sequence),
        "occurred_at": sql.instant(c.occurred_at),
        "performed_by": sql.uuid(c.performed_by), "performer": c.performer_name,
        "performer_credential": func.coalesce(
            c.performer_role + ", license " + func.nullif(c.performer_license, ""),
            c.performer_role,
        ),
        "witnesses": _witnesses(c.witness_ids),
        "patient_id": sql.uuid(c.patient_id), "patient": _patient(period, named),
        "prescription_id": sql.uuid(c.prescription_id), "rx_number": named["rx_number"],
        "session_id": sql.uuid(c.session_id), "room": named["room"],
        "session": sql.instant(named["session_scheduled_at"]), "counterparty": c.counterparty,
        "document_reference": c.document_reference,
        "quantity_in": case((delta > 0, sql.minor_units(delta))),
        "quantity_out": case((delta < 0, sql.minor_units(-delta))),
        "balance": sql.minor_units(balance), "counted": sql.minor_units(counted),
        "variance": sql.minor_units(counted - balance),
        "reversed_by": sql.uuid(c.reversed_by),
    }  # fmt: skip


def _witnesses(witness_ids: Any) -> Any:
    """The witnesses' names in the order the event lists them, joined; NULL for none (most
    lines: their subquery is not run)."""
    elements = (
        func.json_array_elements_text(cast(witness_ids, JSON))
        .table_valued("value", with_ordinality="ordinality")
        .alias("witness")
    )
    order = aggregate_order_by(literal(sql.SEPARATOR), elements.c.ordinality)
    names = (
        select(func.string_agg(_witness.name, order))
        .select_from(elements)
        .join(_witness, _witness.id == cast(elements.c.value, Uuid))
        .scalar_subquery()
    )
    return case((witness_ids != "[]", names))


def _patient(period: Period, named: dict[str, Any]) -> Any:
    """As :func:`app.reports.perpetual.rows` names a patient: by name and record number, or
    by record number alone for a caller who may not read patients."""
    number = named["patient_record_number"]
    if not period.patients_named:
        return number
    given, family = named["patient_given_name"], named["patient_family_name"]
    return given + " " + family + " (" + number + ")"
