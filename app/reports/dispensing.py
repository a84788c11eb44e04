"""The dispensing and administration log: the "readily retrievable" record of 21 CFR
1304.22(c), one row per dispense or administration.

The facts a DEA record needs (substance, form and strength, patient name and address, who
dispensed or administered) come from each event's snapshot, as they were when it happened;
the prescription (Rx number, prescriber as written, refill) and, for a session's dose, the
plan's prescriber are joined in. A reversed event stays in the log, with the reversal that
undid it.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    RowMapping,
    Select,
    Text,
    and_,
    cast,
    exists,
    func,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.clinical.models import TreatmentPlan
from app.clinical.sessions.models import TreatmentSession
from app.core.quantity import format_minor
from app.ledger.models import LedgerEvent
from app.ledger.types import EventType
from app.pharmacy.prescriptions.models import Prescription, PrescriptionFill
from app.registry.models import Location, Staff, StaffRegistration
from app.reports import pg_text
from app.reports.scope import Scope, events_of_period
from app.reports.snapshots import PRODUCT_COLUMNS, address_line, product_fields
from app.reports.streaming import mapped
from app.reports.tabular import Chunks, Column, Row

TYPES = (EventType.dispense.value, EventType.administer.value)
NAME = "dispensing_log"
TITLE = "Dispensing and administration log"


@dataclass(frozen=True, slots=True)
class Filters:
    product_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None
    """Who dispensed or administered."""
    prescriber_dea_number: str | None = None
    """The prescription's prescriber, or for a session's dose the plan's prescriber."""


_reversal = aliased(LedgerEvent)
_plan_prescriber = aliased(Staff)
_session_room = aliased(Location)
"""Where a session's dose was given: the ledger moves it through the session's holding, but
a person reads the room."""


def statement(
    scope: Scope, start: datetime, end: datetime, filters: Filters
) -> Select[*tuple[Any, ...]]:
    """The period's dispenses and administrations, in the order they happened."""
    event = LedgerEvent
    return _joined(
        select(
            event.id, event.sequence, event.type, event.occurred_at,
            type_coerce(event.quantity, BigInteger).label("quantity"),
            type_coerce(event.mg, BigInteger).label("mg"),
            event.patient_id, event.performed_by, event.session_id, event.prescription_id,
            event.is_record,
            cast(event.snapshot, Text).label("snapshot"),
            cast(event.broken_rules, Text).label("broken_rules"),
            Prescription.rx_number, Prescription.prescriber_dea_number,
            cast(Prescription.prescriber, Text).label("prescriber"),
            PrescriptionFill.refill_number,
            _plan_prescriber.name.label("plan_prescriber_name"),
            _plan_prescriber.npi.label("plan_prescriber_npi"),
            _session_room.name.label("session_room"),
            TreatmentSession.scheduled_at.label("session_scheduled_at"),
            _reversal.id.label("reversed_by"),
        ),
        scope, start, end, filters,
    )  # fmt: skip


def csv_statement(
    scope: Scope, start: datetime, end: datetime, filters: Filters
) -> Select[*tuple[Any, ...]]:
    """The same rows with every cell formatted by PostgreSQL as :func:`_flattened` and the
    CSV writer format it, titled by the columns: what ``COPY ... TO STDOUT`` streams as CSV
    at the speed of the database (a million rows is not a Python loop). Instants are on the
    session's time zone, which the caller sets to the registrant's."""
    event, sql = LedgerEvent, pg_text
    snapshot = sql.record(event.snapshot, product=JSON, lot=JSON, location=JSON,
                          performer=JSON, patient=JSON, witnesses=JSON)  # fmt: skip
    product = sql.record(snapshot.c.product, **dict.fromkeys(_PRODUCT_FIELDS, Text))
    patient = sql.record(snapshot.c.patient, name=Text, address=JSON)
    prescriber = Prescription.prescriber
    cells = {
        "event_id": sql.uuid(event.id), "sequence": sql.number(event.sequence),
        "type": event.type, "occurred_at": sql.instant(event.occurred_at),
        "substance": product.c.substance, "product": product.c.name,
        "ndc": func.coalesce(product.c.ndc, product.c.compound_code),
        "dosage_form": product.c.dosage_form,
        "strength": sql.decimal_text(product.c.strength) + " " + product.c.strength_unit,
        "lot_number": snapshot.c.lot["lot_number"].as_string(),
        "quantity": sql.minor_units(type_coerce(event.quantity, BigInteger)),
        "unit": product.c.inventory_unit,
        "mg": sql.minor_units(type_coerce(event.mg, BigInteger)),
        "patient_id": sql.uuid(event.patient_id), "patient_name": patient.c.name,
        "patient_address": sql.address_line(patient.c.address),
        "prescription_id": sql.uuid(event.prescription_id), "rx_number": Prescription.rx_number,
        "refill_number": sql.number(PrescriptionFill.refill_number),
        "prescriber_name": func.coalesce(func.nullif(prescriber["name"].as_string(), ""),
                                         _plan_prescriber.name),
        "prescriber_npi": func.coalesce(func.nullif(prescriber["npi"].as_string(), ""),
                                        _plan_prescriber.npi),
        "prescriber_dea_number": Prescription.prescriber_dea_number,
        "performed_by": sql.uuid(event.performed_by),
        "performer_name": snapshot.c.performer["name"].as_string(),
        "witnesses": sql.joined(snapshot.c.witnesses, "name"),
        "session_id": sql.uuid(event.session_id),
        "location": func.coalesce(_session_room.name, snapshot.c.location["name"].as_string()),
        "session": sql.instant(TreatmentSession.scheduled_at),
        "reversed_by": sql.uuid(_reversal.id), "is_record": sql.boolean(event.is_record),
        "broken_rules": sql.joined(event.broken_rules),
    }  # fmt: skip
    columns = (
        select(*(cells[c.name].label(c.title) for c in COLUMNS))
        .select_from(event)
        .join(snapshot, true())
        .join(product, true())
        .outerjoin(patient, true())  # no patient: the log keeps the row
    )
    return _joined(columns, scope, start, end, filters)


_PRODUCT_FIELDS = ("name", "ndc", "compound_code", "substance", "dosage_form", "strength",
                   "strength_unit", "inventory_unit")  # fmt: skip


def _joined(
    columns: Select[*tuple[Any, ...]], scope: Scope, start: datetime, end: datetime,
    filters: Filters,
) -> Select[*tuple[Any, ...]]:  # fmt: skip
    event = LedgerEvent
    query = (
        columns
        .outerjoin(Prescription, Prescription.id == event.prescription_id)
        .outerjoin(PrescriptionFill, PrescriptionFill.event_id == event.id)
        .outerjoin(TreatmentSession, TreatmentSession.id == event.session_id)
        .outerjoin(TreatmentPlan, TreatmentPlan.id == TreatmentSession.plan_id)
        .outerjoin(_plan_prescriber, _plan_prescriber.id == TreatmentPlan.prescriber_id)
        .outerjoin(_session_room, _session_room.id == TreatmentSession.location_id)
        .outerjoin(_reversal, _reversal.reverses_event_id == event.id)
    )  # fmt: skip
    query = events_of_period(query, scope, start, end, TYPES)
    if filters.product_id is not None:
        query = query.where(event.product_id == filters.product_id)
    if filters.patient_id is not None:
        query = query.where(event.patient_id == filters.patient_id)
    if filters.staff_id is not None:
        query = query.where(event.performed_by == filters.staff_id)
    if filters.prescriber_dea_number is not None:
        query = query.where(_prescribed_by(filters.prescriber_dea_number))
    return query


def _prescribed_by(dea_number: str) -> Any:
    plan_prescriber_holds = exists().where(
        StaffRegistration.staff_id == TreatmentPlan.prescriber_id,
        StaffRegistration.dea_number == dea_number,
    )
    return or_(
        Prescription.prescriber_dea_number == dea_number,
        and_(TreatmentPlan.id.is_not(None), plan_prescriber_holds),
    )


def rows(db: AsyncSession, query: Select[*tuple[Any, ...]], scope: Scope) -> Chunks:
    return mapped(db, query, lambda row: _flattened(row, scope))


def _flattened(row: RowMapping, scope: Scope) -> Row:
    snapshot = orjson.loads(row["snapshot"])
    patient = snapshot["patient"] or {}
    performer = snapshot["performer"] or {}
    prescriber = orjson.loads(row["prescriber"]) if row["prescriber"] else {}
    return {
        "event_id": row["id"],
        "sequence": row["sequence"],
        "type": row["type"],
        "occurred_at": scope.local(row["occurred_at"]),
        **product_fields(snapshot["product"]),
        "lot_number": snapshot["lot"]["lot_number"],
        "quantity": format_minor(row["quantity"]),
        "mg": format_minor(row["mg"]),
        "patient_id": row["patient_id"],
        "patient_name": patient.get("name"),
        "patient_address": address_line(patient.get("address")),
        "prescription_id": row["prescription_id"],
        "rx_number": row["rx_number"],
        "refill_number": row["refill_number"],
        "prescriber_name": prescriber.get("name") or row["plan_prescriber_name"],
        "prescriber_npi": prescriber.get("npi") or row["plan_prescriber_npi"],
        "prescriber_dea_number": row["prescriber_dea_number"],
        "performed_by": row["performed_by"],
        "performer_name": performer.get("name"),
        "witnesses": [w["name"] for w in snapshot["witnesses"]],
        "session_id": row["session_id"],
        "location": row["session_room"] or snapshot["location"]["name"],
        "session": row["session_scheduled_at"] and scope.local(row["session_scheduled_at"]),
        "reversed_by": row["reversed_by"],
        "is_record": row["is_record"],
        "broken_rules": orjson.loads(row["broken_rules"]),
    }


COLUMNS: list[Column] = [
    Column("event_id", "Event", "the ledger event", printed=False),
    Column("sequence", "Sequence", "its place in the registrant's chain"),
    Column("type", "Type", "dispense or administer"),
    Column("occurred_at", "Date and time", "when it happened, on the registrant's clock"),
    *PRODUCT_COLUMNS,
    Column("lot_number", "Lot"),
    Column("quantity", "Quantity", "in the product's inventory unit"),
    Column("unit", "Unit"),
    Column("mg", "mg", "mg of the substance"),
    Column("patient_id", "Patient id", printed=False),
    Column("patient_name", "Patient"),
    Column("patient_address", "Patient address"),
    Column("prescription_id", "Prescription id", printed=False),
    Column("rx_number", "Rx number"),
    Column("refill_number", "Refill", "0 for the original fill"),
    Column("prescriber_name", "Prescriber", "as written, or the plan's prescriber"),
    Column("prescriber_npi", "Prescriber NPI"),
    Column("prescriber_dea_number", "Prescriber DEA number"),
    Column("performed_by", "Staff id", "who dispensed or administered", printed=False),
    Column("performer_name", "Dispensed or administered by"),
    Column("witnesses", "Witnesses"),
    Column("session_id", "Session id", printed=False),
    Column(
        "location", "Location", "where it was dispensed, or the room a session's dose was given in"
    ),
    Column(
        "session",
        "Session",
        "a session's dose: when the session was scheduled (the session is session_id)",
    ),
    Column("reversed_by", "Reversed by", "the reversal that undid it, if one did", printed=False),
    Column("is_record", "Record", "reported after the fact rather than instructed", printed=False),
    Column("broken_rules", "Broken rules"),
]
