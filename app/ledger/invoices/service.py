"""Receiving a file of suppliers' invoices, and reading them back
(docs/domain.md#supplier-invoices).

A file is taken whole or not at all: every problem of its cells is answered at once, and an
invoice sent before with other content refuses the file. The same invoice sent again with the
same content is the one stored, so a file sent twice stores nothing the second time.
"""

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.core.db import flush_unique
from app.core.errors import AppError, Member
from app.ledger.invoices import reading
from app.ledger.invoices.models import SupplierInvoice, SupplierInvoiceLine
from app.ledger.invoices.schemas import Outcome
from app.registry.service import get_registrant

CSV_MEDIA_TYPE = "text/csv"


class InvoiceFileInvalid(AppError):
    slug = "supplier-invoice-file-invalid"
    status = 422
    title = "Invoice file invalid"
    description = (
        "The file of supplier invoices cannot be taken: `problems` lists each problem with its "
        "row (the header is row 1; 0 for the file as a whole), its column and its kind. "
        "Nothing of the file was stored."
    )
    members = {
        "problems": Member("array", "Supplier invoices: each problem of the file.", items={
            "type": "object",
            "required": ["row", "column", "problem", "detail"],
            "properties": {
                "row": {"type": "integer", "minimum": 0},
                "column": {"type": ["string", "null"]},
                "problem": {"type": "string", "enum": [p.value for p in reading.Problem]},
                "detail": {"type": "string"},
            },
        }),
    }  # fmt: skip


class InvoiceFileMediaType(AppError):
    slug = "supplier-invoice-media-type"
    status = 415
    title = "Not a CSV file"
    description = f"A file of supplier invoices is sent as `{CSV_MEDIA_TYPE}` (UTF-8)."


class InvoiceChanged(AppError):
    slug = "supplier-invoice-changed"
    status = 409
    title = "Invoice sent before with other content"
    description = (
        "The supplier's invoice of that number was stored before with another date or other "
        "lines. A stored invoice is a record and is not replaced; nothing of the file was "
        "stored. `invoice_id` names the stored invoice."
    )
    members = {"invoice_id": Member("string", "Supplier invoices: the invoice stored before.")}


@dataclass(frozen=True, slots=True)
class Received:
    """One invoice of the file: the stored row (or the row that would be, in a dry run), its
    lines, and what became of it."""

    invoice: SupplierInvoice
    lines: list[SupplierInvoiceLine]
    outcome: Outcome


async def receive(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    body: bytes,
    media_type: str | None,
    caller: Caller,
    *,
    dry_run: bool,
) -> list[Received]:
    """Store the invoices of a CSV file (none in a dry run), or refuse it whole."""
    registrant = await get_registrant(session, registrant_id, principal=caller.principal)
    caller.principal.require(Permission.inventory)
    if (media_type or "").split(";")[0].strip().lower() != CSV_MEDIA_TYPE:
        raise InvoiceFileMediaType(f"send the file as {CSV_MEDIA_TYPE}, not {media_type}")
    try:
        invoices = reading.read(body)
    except reading.Refused as refused:
        raise _invalid(refused.problems) from None
    source = hashlib.sha256(body).hexdigest()
    stored = await _stored(session, registrant.id, invoices)
    stored_lines = await _lines_of_all(session, list(stored.values()))
    received = []
    for invoice in invoices:
        before = stored.get((invoice.supplier_dea_number, invoice.invoice_number))
        if before is not None and before.content_sha256 != invoice.content_sha256:
            raise InvoiceChanged(
                f"invoice {invoice.invoice_number} of supplier {invoice.supplier_dea_number} "
                "was sent before with other content", extra={"invoice_id": str(before.id)},
            )  # fmt: skip
        if before is not None:
            received.append(Received(before, stored_lines[before.id], Outcome.already_stored))
        else:
            row, lines = _rows(registrant.id, invoice, source, caller)
            outcome = Outcome.would_store if dry_run else Outcome.stored
            received.append(Received(row, lines, outcome))
    if not dry_run:
        session.add_all([r.invoice for r in received if r.outcome is Outcome.stored])
        # Another request storing one of these meanwhile: sent again, the file finds it stored.
        await flush_unique(session, pointer="#", detail="an invoice of the file was stored "
                           "meanwhile by another request; send the file again")  # fmt: skip
        session.add_all([line for r in received if r.outcome is Outcome.stored
                         for line in r.lines])  # fmt: skip
        await session.flush()
    return received


def _invalid(problems: Sequence[reading.FileProblem]) -> InvoiceFileInvalid:
    listed = [{"row": p.row, "column": p.column, "problem": p.problem.value, "detail": p.detail}
              for p in problems]  # fmt: skip
    return InvoiceFileInvalid(f"{len(listed)} problem(s) in the file; nothing was stored",
                              extra={"problems": listed})  # fmt: skip


async def _stored(
    session: AsyncSession, registrant_id: uuid.UUID, invoices: Sequence[reading.Invoice]
) -> dict[tuple[str, str], SupplierInvoice]:
    """The invoices of the file stored before, by supplier and number (one query)."""
    keys = [(i.supplier_dea_number, i.invoice_number) for i in invoices]
    rows = await session.scalars(select(SupplierInvoice).where(
        SupplierInvoice.registrant_id == registrant_id,
        tuple_(SupplierInvoice.supplier_dea_number, SupplierInvoice.invoice_number).in_(keys),
    ))  # fmt: skip
    return {(row.supplier_dea_number, row.invoice_number): row for row in rows}


def _rows(
    registrant_id: uuid.UUID, invoice: reading.Invoice, source: str, caller: Caller
) -> tuple[SupplierInvoice, list[SupplierInvoiceLine]]:
    row = SupplierInvoice(
        id=uuid.uuid4(), registrant_id=registrant_id,
        supplier_dea_number=invoice.supplier_dea_number, invoice_number=invoice.invoice_number,
        invoice_date=invoice.invoice_date, content_sha256=invoice.content_sha256,
        source_sha256=source, created_by=caller.principal.subject, created_at=caller.now,
    )  # fmt: skip
    lines = [
        SupplierInvoiceLine(id=uuid.uuid4(), invoice_id=row.id, registrant_id=registrant_id,
                            line_number=number, ndc=line.ndc, lot_number=line.lot_number,
                            quantity=line.quantity)
        for number, line in enumerate(invoice.lines, start=1)
    ]  # fmt: skip
    return row, lines


def invoices_query(
    principal: Principal, registrant_id: uuid.UUID
) -> Select[tuple[SupplierInvoice]]:
    principal.require(Permission.read_supplier_invoices)
    return within_registrants(select(SupplierInvoice), SupplierInvoice.registrant_id, principal,
                              registrant_id)  # fmt: skip


async def get(
    session: AsyncSession, invoice_id: uuid.UUID, principal: Principal
) -> SupplierInvoice:
    invoice = await get_readable(session, SupplierInvoice, invoice_id, principal,
                                 what="supplier invoice")  # fmt: skip
    principal.require(Permission.read_supplier_invoices)
    return invoice


async def lines_of(session: AsyncSession, invoice: SupplierInvoice) -> list[SupplierInvoiceLine]:
    return (await _lines_of_all(session, [invoice]))[invoice.id]


async def _lines_of_all(
    session: AsyncSession, invoices: Sequence[SupplierInvoice]
) -> dict[uuid.UUID, list[SupplierInvoiceLine]]:
    """Each invoice's lines in order, in one query for all of them."""
    found: dict[uuid.UUID, list[SupplierInvoiceLine]] = {i.id: [] for i in invoices}
    if not found:
        return found
    rows = await session.scalars(select(SupplierInvoiceLine)
                                 .where(SupplierInvoiceLine.invoice_id.in_(list(found)))
                                 .order_by(SupplierInvoiceLine.invoice_id,
                                           SupplierInvoiceLine.line_number))  # fmt: skip
    for line in rows:
        found[line.invoice_id].append(line)
    return found
