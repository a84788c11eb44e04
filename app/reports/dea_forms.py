"""The data of two DEA forms, ready to key in or file: Form 41 (inventory destroyed, 21 CFR
1317) for a period's destructions, and Form 106 (theft or significant loss, 21 CFR
1301.76(b)) for one reportable discrepancy."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import BigInteger, RowMapping, Select, Text, cast, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core.errors import AppError
from app.core.quantity import format_minor, rounded
from app.ledger.models import LedgerEvent
from app.ledger.types import EventType
from app.reconciliation.models import Discrepancy
from app.reports.scope import Scope, events_of_period
from app.reports.snapshots import product_fields, quantity
from app.reports.streaming import RowSource, mapped
from app.reports.tabular import Chunks, Column, Row

FORM_41 = "dea_form_41"
FORM_41_TITLE = "DEA Form 41 data: controlled substances destroyed"
FORM_106 = "dea_form_106"
FORM_106_TITLE = "DEA Form 106 data: theft or loss of controlled substances"
FORM_41_SIGNATURES = ("Destroyed by", "Witness", "Witness")
"""Form 41 is signed by whoever destroyed the substances and two witnesses (21 CFR 1317.95)."""
FORM_106_SIGNATURES = ("Registrant or person authorized to sign",)
KETAMINE_DEA_CODE = "7285"
"""What Form 41 names a product without an NDC by (a compounded or bulk ketamine)."""

_reversal = aliased(LedgerEvent)


class NotReportable(AppError):
    slug = "not-reportable"
    status = 422
    title = "Not a theft or significant loss"
    description = "DEA Form 106 reports a theft or significant loss; this discrepancy is neither."


# Form 41


def destructions_statement(
    scope: Scope, start: datetime, end: datetime
) -> Select[*tuple[Any, ...]]:
    event = LedgerEvent
    query = (
        select(event.id, event.occurred_at,
               type_coerce(event.quantity, BigInteger).label("quantity"),
               type_coerce(event.mg, BigInteger).label("mg"),
               cast(event.details, Text).label("details"),
               cast(event.snapshot, Text).label("snapshot"),
               _reversal.id.label("reversed_by"))
        .outerjoin(_reversal, _reversal.reverses_event_id == event.id)
    )  # fmt: skip
    return events_of_period(query, scope, start, end, [EventType.destroy.value])


def destruction_rows(db: AsyncSession, query: Select[*tuple[Any, ...]], scope: Scope) -> Chunks:
    return mapped(db, query, lambda row: _destroyed(row, scope))


def _destroyed(row: RowMapping, scope: Scope) -> Row:
    snapshot = orjson.loads(row["snapshot"])
    destruction = orjson.loads(row["details"])["destruction"]
    product = snapshot["product"]
    return {
        "event_id": row["id"],
        "destroyed_at": scope.local(row["occurred_at"]),
        "code": product["ndc"] or product["dea_code"] or KETAMINE_DEA_CODE,
        **product_fields(product),
        "package_size": quantity(product["package_size"]),
        "lot_number": snapshot["lot"]["lot_number"],
        "full_packages": destruction["full_packages"],
        "partial_packages": destruction["partial_packages"],
        "quantity": format_minor(row["quantity"]),
        "mg": format_minor(row["mg"]),
        "method": destruction["method"],
        "place": destruction["place"],
        "witnesses": [w["name"] for w in snapshot["witnesses"]],
        "destroyed_by": (snapshot["performer"] or {}).get("name"),
        "reversed_by": row["reversed_by"],
    }


def destruction_source(scope: Scope, start: datetime, end: datetime) -> RowSource:
    query = destructions_statement(scope, start, end)
    return lambda db: destruction_rows(db, query, scope)


FORM_41_COLUMNS: list[Column] = [
    Column("event_id", "Event", printed=False),
    Column("destroyed_at", "Date destroyed"),
    Column("code", "NDC or DEA code", "the NDC, or the substance's DEA code without one"),
    Column("product", "Name"),
    Column("substance", "Substance", printed=False),
    Column("strength", "Strength"),
    Column("dosage_form", "Form"),
    Column("package_size", "Package quantity", "units per full package"),
    Column("lot_number", "Lot"),
    Column("full_packages", "Full packages"),
    Column("partial_packages", "Partial packages"),
    Column("quantity", "Total destroyed", "in the product's inventory unit"),
    Column("unit", "Unit"),
    Column("mg", "mg"),
    Column("method", "Method of destruction"),
    Column("place", "Place of destruction"),
    Column("witnesses", "Witnesses", "the two employees who witnessed it"),
    Column("destroyed_by", "Destroyed by"),
    Column(
        "reversed_by",
        "Reversed by",
        "the reversal that undid the record, if one did",
        printed=False,
    ),
]


# Form 106

_LOSS_TYPES = {"theft": "theft", "loss_in_transit": "loss in transit",
               "employee_pilferage": "employee pilferage", "other": "other"}  # fmt: skip


def _mg_per_unit(event: LedgerEvent) -> Decimal:
    """mg in one inventory unit, as the event reckoned it; from the product's strength when
    the event moved nothing (a count of nothing)."""
    if event.quantity:
        return event.mg / event.quantity
    return Decimal(event.snapshot["product"]["strength"])


async def form_106(
    db: AsyncSession, discrepancy: Discrepancy, scope: Scope
) -> tuple[dict[str, Any], list[Row]]:
    """The form's fields, and one item per product lost (from the discrepancy's events: a
    theft or loss as recorded, a count by its shortfall, a decrease of the book by its
    amount)."""
    if not discrepancy.reportable:
        raise NotReportable("only a theft or significant loss is reported on Form 106")
    ids = [uuid.UUID(e) for e in discrepancy.event_ids]
    events = list(await db.scalars(select(LedgerEvent).where(LedgerEvent.id.in_(ids))))
    events.sort(key=lambda e: (e.occurred_at, e.sequence))
    fields = {
        "discrepancy_id": str(discrepancy.id),
        "date_of_discovery": discrepancy.discovered_at
        and scope.local(discrepancy.discovered_at).date().isoformat(),
        "type_of_loss": _type_of_loss(events),
        "notice_due_on": discrepancy.notice_due_on,
        "notice_given_on": discrepancy.notice_given_on,
        "form_106_due_on": discrepancy.form_106_due_on,
        "reported_on": discrepancy.reported_on,
        "report_reference": discrepancy.report_reference,
        "summary": discrepancy.summary,
    }
    return fields, [_lost(event, discrepancy, scope) for event in events]


def _type_of_loss(events: list[LedgerEvent]) -> str:
    kinds = {e.details["loss"]["kind"] for e in events if "loss" in e.details}
    return ", ".join(sorted(_LOSS_TYPES[k] for k in kinds)) if kinds else "other"


def _lost(event: LedgerEvent, discrepancy: Discrepancy, scope: Scope) -> Row:
    lost = event.quantity
    if event.type == EventType.count.value:
        lost = Decimal(discrepancy.details["expected"]) - Decimal(discrepancy.details["counted"])
    product = event.snapshot["product"]
    return {
        "event_id": event.id,
        "occurred_at": scope.local(event.occurred_at),
        "recorded_as": event.type,
        **product_fields(product),
        "code": product["ndc"] or product["dea_code"] or KETAMINE_DEA_CODE,
        "lot_number": event.snapshot["lot"]["lot_number"],
        "quantity_lost": lost,
        "mg_lost": rounded(lost * _mg_per_unit(event)),
    }


FORM_106_COLUMNS: list[Column] = [
    Column("event_id", "Event", printed=False),
    Column("occurred_at", "Occurred"),
    Column("recorded_as", "Recorded as", "theft, loss, a count's shortfall or a decrease"),
    Column("code", "NDC or DEA code"),
    Column("product", "Trade name"),
    Column("substance", "Substance"),
    Column("strength", "Strength"),
    Column("dosage_form", "Dosage form"),
    Column("lot_number", "Lot"),
    Column("quantity_lost", "Quantity lost", "in the product's inventory unit"),
    Column("unit", "Unit"),
    Column("mg_lost", "mg lost"),
]
