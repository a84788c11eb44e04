"""The reads of a run's invoice matching (app/reconciliation/invoice_rules.py): the invoices
and receipts it judges for one registrant and period, set-based.

A night's run judges the previous day, but an invoice is judged never received only once the
grace after its date has passed, so a run reads the invoices dated from ``grace`` days before
its period to its end, those sent during it (an invoice sent late), and those its receipts
name; and every receipt naming one of them, whenever it came. Receipts are read from ``grace``
days before the period on, for the same reason.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Lot, Product
from app.ledger.invoices.models import SupplierInvoice, SupplierInvoiceLine
from app.ledger.models import LedgerEvent
from app.ledger.types import EventType
from app.reconciliation.facts import InvoiceLine, InvoiceReceipt
from app.reconciliation.queries import id_text, not_reversed

_SUPPLIER_DEA = LedgerEvent.counterparty["dea_number"].as_string()


@dataclass(frozen=True, slots=True)
class Window:
    """The period's days and instants, and the grace before them."""

    first: date
    last: date
    start: datetime
    end: datetime
    grace: timedelta


async def invoice_facts(
    db: AsyncSession, rid: uuid.UUID, window: Window
) -> tuple[list[InvoiceLine], list[InvoiceReceipt], frozenset[str]]:
    """The lines of the invoices judged, the receipts naming them or received in the window,
    and the suppliers whose invoices the registrant sends."""
    since = window.start - window.grace
    recent = await _receipts(db, _receipts_of(rid).where(
        LedgerEvent.occurred_at >= since, LedgerEvent.occurred_at < window.end))  # fmt: skip
    named = {(r.supplier_dea_number.upper(), r.invoice_number) for r in recent}
    lines = await _lines(db, rid, window, named)
    invoiced = {(line.supplier_dea_number, line.invoice_number) for line in lines}
    numbers = sorted({number for _, number in invoiced})
    earlier = await _receipts(db, _receipts_of(rid).where(
        LedgerEvent.document_reference.in_(numbers))) if numbers else []  # fmt: skip
    by_id = {r.event_id: r for r in recent}
    by_id.update({r.event_id: r for r in earlier
                  if (r.supplier_dea_number.upper(), r.invoice_number) in invoiced})  # fmt: skip
    suppliers = await db.scalars(select(SupplierInvoice.supplier_dea_number).distinct()
                                 .where(SupplierInvoice.registrant_id == rid))  # fmt: skip
    return lines, list(by_id.values()), frozenset(suppliers)


async def _lines(
    db: AsyncSession, rid: uuid.UUID, window: Window, named: set[tuple[str, str]]
) -> list[InvoiceLine]:
    judged = or_(
        SupplierInvoice.invoice_date.between(window.first - window.grace, window.last),
        and_(SupplierInvoice.created_at >= window.start, SupplierInvoice.created_at < window.end),
    )
    if named:
        keys = tuple_(SupplierInvoice.supplier_dea_number, SupplierInvoice.invoice_number)
        judged = or_(judged, keys.in_(sorted(named)))
    rows = await db.execute(
        select(SupplierInvoice.id.label("invoice_id"), SupplierInvoice.supplier_dea_number,
               SupplierInvoice.invoice_number, SupplierInvoice.invoice_date,
               SupplierInvoiceLine.id.label("line_id"), SupplierInvoiceLine.line_number,
               SupplierInvoiceLine.ndc, SupplierInvoiceLine.lot_number,
               SupplierInvoiceLine.quantity, Product.id.label("product_id"))
        .join(SupplierInvoiceLine, SupplierInvoiceLine.invoice_id == SupplierInvoice.id)
        .outerjoin(Product, and_(Product.registrant_id == rid,
                                 Product.ndc == SupplierInvoiceLine.ndc))
        .where(SupplierInvoice.registrant_id == rid, judged)
        .order_by(SupplierInvoice.invoice_date, SupplierInvoice.id,
                  SupplierInvoiceLine.line_number)
    )  # fmt: skip
    return [InvoiceLine(**row._mapping) for row in rows]


def _receipts_of(rid: uuid.UUID) -> Select[Any]:
    """The registrant's receipts naming an invoice (a number and a supplier), not reversed."""
    return (
        select(LedgerEvent.id.label("event_id"), _SUPPLIER_DEA.label("supplier_dea_number"),
               LedgerEvent.document_reference.label("invoice_number"), Product.ndc,
               Lot.lot_number, LedgerEvent.lot_id, LedgerEvent.product_id,
               LedgerEvent.location_id, LedgerEvent.quantity, LedgerEvent.occurred_at,
               LedgerEvent.performed_by)
        .join(Lot, Lot.id == LedgerEvent.lot_id)
        .join(Product, Product.id == LedgerEvent.product_id)
        .where(LedgerEvent.registrant_id == rid, LedgerEvent.type == EventType.receipt.value,
               LedgerEvent.document_reference.is_not(None), _SUPPLIER_DEA.is_not(None),
               not_reversed())
    )  # fmt: skip


async def _receipts(db: AsyncSession, statement: Select[Any]) -> Sequence[InvoiceReceipt]:
    rows = await db.execute(statement)
    return [
        InvoiceReceipt(**{**row._mapping, "performed_by": id_text(row.performed_by)})
        for row in rows
    ]
