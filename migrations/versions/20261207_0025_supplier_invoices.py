"""Suppliers' invoices and their lines, as the registrant sent them: records (append-only),
one per supplier's DEA number and invoice number, matched by reconciliation against the
receipts that name them.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 23:56:58.738631
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.immutable import drop_append_only, make_append_only

APPEND_ONLY = ("supplier_invoices", "supplier_invoice_lines")

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supplier_invoices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("supplier_dea_number", sa.String(length=9), nullable=False),
        sa.Column("invoice_number", sa.String(length=100), nullable=False),
        sa.Column("invoice_date", sa.Date(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_supplier_invoices_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_invoices")),
        sa.UniqueConstraint(
            "registrant_id",
            "supplier_dea_number",
            "invoice_number",
            name="uq_supplier_invoices_registrant_id_supplier_number",
        ),
    )
    with op.batch_alter_table("supplier_invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_supplier_invoices_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_supplier_invoices_registrant_id_invoice_date",
            ["registrant_id", "invoice_date"],
            unique=False,
        )

    op.create_table(
        "supplier_invoice_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("ndc", sa.String(length=11), nullable=False),
        sa.Column("lot_number", sa.String(length=50), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["supplier_invoices.id"],
            name=op.f("fk_supplier_invoice_lines_invoice_id_supplier_invoices"),
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_supplier_invoice_lines_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_invoice_lines")),
        sa.UniqueConstraint(
            "invoice_id",
            "ndc",
            "lot_number",
            name=op.f("uq_supplier_invoice_lines_invoice_id_ndc_lot_number"),
        ),
    )
    with op.batch_alter_table("supplier_invoice_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_supplier_invoice_lines_registrant_id", ["registrant_id"], unique=False
        )

    for table in APPEND_ONLY:
        make_append_only(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
    with op.batch_alter_table("supplier_invoice_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_supplier_invoice_lines_registrant_id")

    op.drop_table("supplier_invoice_lines")
    with op.batch_alter_table("supplier_invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_supplier_invoices_registrant_id_invoice_date")
        batch_op.drop_index("ix_supplier_invoices_registrant_id_created_at")

    op.drop_table("supplier_invoices")
