"""Receipts: what came in and from whom (21 CFR 1304.22(a)(2)(iii), (iv)), one row per
receipt from a supplier or transfer in from another registrant, with the supplier's name,
address and DEA number as the event recorded them, the invoice, and the number of containers.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import RowMapping, Select, Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core.quantity import rounded
from app.ledger.models import LedgerEvent
from app.ledger.types import EventType
from app.reports.scope import Scope
from app.reports.snapshots import PRODUCT_COLUMNS, address_line, product_fields, quantity
from app.reports.streaming import RowSource, mapped
from app.reports.tabular import Chunks, Column, Row

TYPES = (EventType.receipt.value, EventType.transfer_in.value)
NAME = "receipts"
TITLE = "Receipts"

_reversal = aliased(LedgerEvent)


def statement(scope: Scope, start: datetime, end: datetime) -> Select[*tuple[Any, ...]]:
    """The period's receipts and transfers in, in the order they happened."""
    event = LedgerEvent
    return (
        select(
            event.id, event.sequence, event.type, event.occurred_at, event.quantity,
            event.document_reference, event.is_record,
            cast(event.snapshot, Text).label("snapshot"),
            cast(event.broken_rules, Text).label("broken_rules"),
            _reversal.id.label("reversed_by"),
        )
        .outerjoin(_reversal, _reversal.reverses_event_id == event.id)
        .where(event.registrant_id == scope.registrant.id, event.type.in_(TYPES),
               event.occurred_at >= start, event.occurred_at < end)
        .order_by(event.occurred_at, event.sequence)
    )  # fmt: skip


def rows(db: AsyncSession, query: Select[*tuple[Any, ...]], scope: Scope) -> Chunks:
    return mapped(db, query, lambda row: _flattened(row, scope))


def _flattened(row: RowMapping, scope: Scope) -> Row:
    snapshot = orjson.loads(row["snapshot"])
    product, supplier = snapshot["product"], snapshot["counterparty"] or {}
    package = Decimal(product["package_size"])
    received_by = snapshot["performer"] or {}
    return {
        **row,
        "event_id": row["id"],
        "occurred_at": scope.local(row["occurred_at"]),
        "supplier_name": supplier.get("name"),
        "supplier_address": address_line(supplier.get("address")),
        "supplier_dea_number": supplier.get("dea_number"),
        **product_fields(product),
        "package_size": quantity(product["package_size"]),
        "containers": rounded(row["quantity"] / package),
        "lot_number": snapshot["lot"]["lot_number"],
        "expires_on": snapshot["lot"]["expires_on"],
        "location": snapshot["location"]["name"],
        "received_by": received_by.get("name"),
        "broken_rules": orjson.loads(row["broken_rules"]),
    }


def source(scope: Scope, start: datetime, end: datetime) -> RowSource:
    query = statement(scope, start, end)
    return lambda db: rows(db, query, scope)


COLUMNS: list[Column] = [
    Column("event_id", "Event", "the ledger event", printed=False),
    Column("sequence", "Sequence", "its place in the registrant's chain"),
    Column("type", "Type", "receipt, or transfer_in from another registrant"),
    Column("occurred_at", "Date received", "on the registrant's clock"),
    Column("supplier_name", "Supplier"),
    Column("supplier_address", "Supplier address"),
    Column("supplier_dea_number", "Supplier DEA number"),
    Column("document_reference", "Invoice", "invoice or DEA Form 222 number"),
    *PRODUCT_COLUMNS,
    Column("package_size", "Container size", "inventory units per commercial container"),
    Column("quantity", "Quantity", "in the product's inventory unit"),
    Column("unit", "Unit"),
    Column("containers", "Containers", "quantity over container size"),
    Column("lot_number", "Lot"),
    Column("expires_on", "Expires"),
    Column("location", "Received at"),
    Column("received_by", "Received by"),
    Column("reversed_by", "Reversed by", "the reversal that undid it, if one did", printed=False),
    Column("is_record", "Record", "reported after the fact rather than instructed", printed=False),
    Column("broken_rules", "Broken rules", "e.g. a supplier without a valid DEA number"),
]
