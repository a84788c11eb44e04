"""The perpetual inventory's rows with every cell formatted by PostgreSQL as
:func:`app.reports.perpetual.rows` and the CSV writer format it: what ``COPY ... TO STDOUT``
writes as CSV at the database's speed (a year of one lot is a million rows; docs/adr/0005).
Names come from joins here, where the Python rows load them a fetch at a time."""

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Select,
    Text,
    Uuid,
    case,
    cast,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Subquery

from app.catalog.models import Lot, Product
from app.clinical.sessions.models import TreatmentSession
from app.pharmacy.prescriptions.models import Prescription
from app.registry.models import Location, Staff
from app.reports import pg_text as sql
from app.reports.perpetual import (
    CLOSING,
    COLUMNS,
    OPENING,
    PART_CLOSING,
    PART_OPENING,
    Period,
    joined,
    patient,
    performer,
    room,
)

_witness = aliased(Staff)


def csv_statement(period: Period) -> Select[Any]:
    """The rows titled by the report's columns; instants on the session's time zone, which
    the caller sets to the registrant's."""

    def cells(rows: Subquery, reversals: Subquery) -> list[Any]:
        delta, counted, balance = rows.c.delta, rows.c.counted, rows.c.balance
        made = {
            "location_id": sql.uuid(rows.c.location_id), "location": Location.name,
            "lot_id": sql.uuid(rows.c.lot_id), "lot_number": Lot.lot_number,
            "expires_on": cast(Lot.expires_on, Text), "product": Product.name,
            "ndc": func.coalesce(Product.ndc, Product.compound_code),
            "strength": sql.minor_units(type_coerce(Product.strength_value, BigInteger)) + " "
            + Product.strength_unit,
            "unit": Product.inventory_unit,
            "entry": case((rows.c.part == PART_OPENING, OPENING),
                          (rows.c.part == PART_CLOSING, CLOSING), else_=rows.c.type),
            "event_id": sql.uuid(rows.c.event_id), "sequence": sql.number(rows.c.sequence),
            "occurred_at": sql.instant(rows.c.occurred_at),
            "performed_by": sql.uuid(rows.c.performed_by), "performer": performer.name,
            "performer_credential": func.coalesce(
                performer.role + ", license " + func.nullif(performer.state_license, ""),
                performer.role,
            ),
            "witnesses": _witnesses(rows.c.witness_ids),
            "patient_id": sql.uuid(rows.c.patient_id), "patient": _patient_cell(period),
            "prescription_id": sql.uuid(rows.c.prescription_id),
            "rx_number": Prescription.rx_number, "session_id": sql.uuid(rows.c.session_id),
            "room": room.name, "session": sql.instant(TreatmentSession.scheduled_at),
            "counterparty": rows.c.counterparty, "document_reference": rows.c.document_reference,
            "quantity_in": case((delta > 0, sql.minor_units(delta))),
            "quantity_out": case((delta < 0, sql.minor_units(-delta))),
            "balance": sql.minor_units(balance), "counted": sql.minor_units(counted),
            "variance": sql.minor_units(counted - balance),
            "reversed_by": sql.uuid(reversals.c.id),
        }  # fmt: skip
        return [made[column.name].label(column.title) for column in COLUMNS]

    return joined(period, cells)


def _witnesses(witness_ids: Any) -> Any:
    """The witnesses' names in the order the event lists them, joined; NULL for none (most
    rows: no subquery is run for them)."""
    elements = (
        func.json_array_elements_text(cast(witness_ids, JSON))
        .table_valued("value", with_ordinality="ordinality")
        .alias("witness")
    )
    names = (
        select(func.string_agg(_witness.name, aggregate_order_by(literal("; "),
                                                                 elements.c.ordinality)))
        .select_from(elements)
        .join(_witness, _witness.id == cast(elements.c.value, Uuid))
        .scalar_subquery()
    )  # fmt: skip
    return case((witness_ids != "[]", names))


def _patient_cell(period: Period) -> Any:
    if not period.patients_named:
        return patient.external_id
    return (patient.given_name + " " + patient.family_name + " (" + patient.external_id
            + ")")  # fmt: skip
