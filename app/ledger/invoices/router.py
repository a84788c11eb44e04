"""Supplier-invoice routes: send a CSV file of invoices, list them, read one with its lines
(docs/domain.md#supplier-invoices)."""

import uuid
from typing import Any

from fastapi import Depends, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.pagination import Page, paginate
from app.edge.answers import answering
from app.edge.audit import audited
from app.edge.deps import (
    CurrentCaller,
    CurrentPrincipal,
    IdempotencyRequired,
    SessionDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.routing import api_router
from app.ledger.invoices import reading, service
from app.ledger.invoices.models import SupplierInvoice
from app.ledger.invoices.schemas import (
    InvoiceFileReceived,
    Outcome,
    ReceivedInvoice,
    SupplierInvoiceOut,
    SupplierInvoiceWithLines,
)

router = api_router(dependencies=[Depends(current_principal)], tags=["supplier-invoices"])

_EXAMPLE = (
    ",".join(reading.COLUMNS) + "\n"
    "INV-20260302-118,2026-03-02,AB1234563,0409-2051-05,KX2291,20\n"
    "INV-20260302-118,2026-03-02,AB1234563,0409-2051-05,KX2292,5\n"
)
_CSV_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    service.CSV_MEDIA_TYPE: {"schema": {"type": "string"}, "example": _EXAMPLE},
}}}  # fmt: skip
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": InvoiceFileReceived,
          "description": "A dry run, or every invoice of the file stored before: nothing new."},
}  # fmt: skip


@router.post(
    "/registrants/{registrant_id}/supplier-invoices",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=InvoiceFileReceived,
    responses=_ANSWERS,
    openapi_extra=_CSV_BODY,
)
@answering(413, 415, 422)  # the body, read here: too large, not CSV, a problem in a cell
@audited("supplier_invoice")
async def send_supplier_invoices(
    registrant_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
    dry_run: bool = False,
) -> InvoiceFileReceived:
    """Send a file of suppliers' invoices (`text/csv`, UTF-8, a header row naming the columns
    `invoice_number`, `invoice_date` (YYYY-MM-DD), `supplier_dea_number`, `ndc`, `lot_number`
    and `quantity` (in the product's inventory unit, a decimal string), in any order). One
    file may hold several invoices: the rows of one supplier's DEA number and one invoice
    number are one invoice, one row per NDC and lot. Every problem is answered at once with
    its row and column (422 `supplier-invoice-file-invalid`) and nothing is stored. An
    invoice sent before with the same content is answered as `already_stored`; with other
    content the file is refused (409 `supplier-invoice-changed`). `dry_run=true` checks the
    file and answers what would be stored, storing nothing. 201 when an invoice was stored,
    else 200. Whoever records receipts; reconciliation matches the invoices against them."""
    received = await service.receive(
        session, registrant_id, await request.body(), request.headers.get("content-type"),
        caller, dry_run=dry_run,
    )  # fmt: skip
    if not any(item.outcome is Outcome.stored for item in received):
        response.status_code = status.HTTP_200_OK
    invoices = [ReceivedInvoice.model_validate({
        **SupplierInvoiceOut.model_validate(item.invoice).model_dump(),
        "lines": item.lines, "outcome": item.outcome,
        **({"id": None, "created_by": None, "created_at": None}
           if item.outcome is Outcome.would_store else {}),
    }) for item in received]  # fmt: skip
    return InvoiceFileReceived(dry_run=dry_run, invoices=invoices)


@router.get(
    "/registrants/{registrant_id}/supplier-invoices", response_model=Page[SupplierInvoiceOut]
)
async def list_supplier_invoices(
    registrant_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, object]:
    """The registrant's suppliers' invoices, newest sent first."""
    statement = service.invoices_query(principal, registrant_id)
    found, next_cursor = await paginate(
        session, statement, created_at=SupplierInvoice.created_at, row_id=SupplierInvoice.id,
        limit=limit, cursor=cursor,
    )  # fmt: skip
    return {"items": found, "next_cursor": next_cursor}


@router.get("/supplier-invoices/{invoice_id}", response_model=SupplierInvoiceWithLines)
@audited("supplier_invoice", "invoice_id")
async def get_supplier_invoice(
    invoice_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> SupplierInvoiceWithLines:
    """A supplier's invoice with its lines, as sent."""
    return await _with_lines(session, principal, invoice_id)


async def _with_lines(
    session: AsyncSession, principal: Principal, invoice_id: uuid.UUID
) -> SupplierInvoiceWithLines:
    invoice = await service.get(session, invoice_id, principal)
    lines = await service.lines_of(session, invoice)
    return SupplierInvoiceWithLines.model_validate(
        {**SupplierInvoiceOut.model_validate(invoice).model_dump(), "lines": lines}
    )
