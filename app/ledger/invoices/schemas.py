"""What the supplier-invoice routes answer."""

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import Field, computed_field

from app.core.identifiers import format_ndc
from app.core.schemas import OutputModel, Quantity


class SupplierInvoiceLineOut(OutputModel):
    line_number: int = Field(description="Its place on the invoice, from 1, in the file's order.")
    ndc: str = Field(description="11 digits, as the catalog keeps an NDC.")
    lot_number: str
    quantity: Quantity = Field(description="In the product's inventory unit.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ndc_formatted(self) -> str:
        return format_ndc(self.ndc)


class SupplierInvoiceOut(OutputModel):
    id: uuid.UUID | None = Field(description="None in a dry run: nothing was stored.")
    registrant_id: uuid.UUID
    supplier_dea_number: str
    invoice_number: str
    invoice_date: date
    content_sha256: str = Field(description="The digest of the invoice's date and lines.")
    source_sha256: str = Field(description="The digest of the file it came in.")
    created_by: str | None = Field(description="Who sent it (None in a dry run).")
    created_at: datetime | None = Field(description="When (None in a dry run).")


class SupplierInvoiceWithLines(SupplierInvoiceOut):
    lines: list[SupplierInvoiceLineOut]


class Outcome(StrEnum):
    stored = "stored"
    """New: stored now."""
    already_stored = "already_stored"
    """Sent before with the same content: the invoice stored then."""
    would_store = "would_store"
    """A dry run: what would be stored."""


class ReceivedInvoice(SupplierInvoiceWithLines):
    outcome: Outcome


class InvoiceFileReceived(OutputModel):
    """What became of each invoice of the file, in the order the file first names them."""

    dry_run: bool
    invoices: list[ReceivedInvoice]
