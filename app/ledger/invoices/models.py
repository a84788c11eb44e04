"""A supplier's invoice as the registrant sent it, and its lines: records, never changed
(append-only). The same invoice sent again with the same content is the one stored; with other
content it is refused (a correction of an invoice is not taken yet)."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, Quantity, UTCDateTime


class SupplierInvoice(Base):
    """One invoice: the supplier (by DEA number), its number and date, who sent it and when,
    and the file it came in."""

    __tablename__ = "supplier_invoices"
    __table_args__ = (
        UniqueConstraint(
            "registrant_id",
            "supplier_dea_number",
            "invoice_number",
            name="uq_supplier_invoices_registrant_id_supplier_number",
        ),
        Index("ix_supplier_invoices_registrant_id_created_at", "registrant_id", "created_at", "id"),
        Index("ix_supplier_invoices_registrant_id_invoice_date", "registrant_id", "invoice_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    supplier_dea_number: Mapped[str] = mapped_column(String(9))
    invoice_number: Mapped[str] = mapped_column(String(100))
    """As a receipt names it in its ``document_reference``."""
    invoice_date: Mapped[date] = mapped_column(Date)
    content_sha256: Mapped[str] = mapped_column(String(64))
    """The digest of the invoice's date and lines, which tells a resend from a change."""
    source_sha256: Mapped[str] = mapped_column(String(64))
    """The digest of the file it came in (which may hold other invoices)."""
    created_by: Mapped[str] = mapped_column(String(200))
    """The token subject that sent it."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SupplierInvoiceLine(Base):
    """What the invoice says was shipped of one lot of one product (by NDC)."""

    __tablename__ = "supplier_invoice_lines"
    __table_args__ = (
        UniqueConstraint("invoice_id", "ndc", "lot_number"),
        Index("ix_supplier_invoice_lines_registrant_id", "registrant_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("supplier_invoices.id"))
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    line_number: Mapped[int] = mapped_column(Integer)
    """Its place on the invoice, from 1, in the file's order."""
    ndc: Mapped[str] = mapped_column(String(11))
    """11 digits, as the catalog keeps an NDC."""
    lot_number: Mapped[str] = mapped_column(String(50))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    """In the product's inventory unit (mL, mg, g, device, each)."""
