"""Inventories as a signed workflow: an inventory of a registrant's locations as of an
instant, and its count sheet, one entry per location and lot (docs/domain.md#inventory).

Neither table is append-only: a sheet is counted (and recounted) while its inventory is open;
once signed, its counts are the ledger's count events, which are.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inventories",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.String(length=30), nullable=False),
        sa.Column("location_ids", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("exact_required", sa.Boolean(), nullable=False),
        sa.Column("started_by", sa.Uuid(), nullable=False),
        sa.Column("signed_by", sa.Uuid(), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("witness_id", sa.Uuid(), nullable=True),
        sa.Column("witness_subject", sa.String(length=200), nullable=True),
        sa.Column("witnessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_by", sa.String(length=200), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_inventories_registrant_id_registrants"),
        ),
        sa.ForeignKeyConstraint(
            ["signed_by"], ["staff.id"], name=op.f("fk_inventories_signed_by_staff")
        ),
        sa.ForeignKeyConstraint(
            ["started_by"], ["staff.id"], name=op.f("fk_inventories_started_by_staff")
        ),
        sa.ForeignKeyConstraint(
            ["witness_id"], ["staff.id"], name=op.f("fk_inventories_witness_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventories")),
    )
    with op.batch_alter_table("inventories", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inventories_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "inventory_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("inventory_id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("ledger_quantity", sa.BigInteger(), nullable=False),
        sa.Column("counted", sa.BigInteger(), nullable=True),
        sa.Column("exactness", sa.String(length=20), nullable=True),
        sa.Column("counted_by", sa.Uuid(), nullable=True),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["counted_by"], ["staff.id"], name=op.f("fk_inventory_entries_counted_by_staff")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ledger_events.id"],
            name=op.f("fk_inventory_entries_event_id_ledger_events"),
        ),
        sa.ForeignKeyConstraint(
            ["inventory_id"],
            ["inventories.id"],
            name=op.f("fk_inventory_entries_inventory_id_inventories"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_inventory_entries_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["lots.id"], name=op.f("fk_inventory_entries_lot_id_lots")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_inventory_entries_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_inventory_entries_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_entries")),
        sa.UniqueConstraint(
            "inventory_id",
            "location_id",
            "lot_id",
            name=op.f("uq_inventory_entries_inventory_id_location_id_lot_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("inventory_entries")
    with op.batch_alter_table("inventories", schema=None) as batch_op:
        batch_op.drop_index("ix_inventories_registrant_id_created_at")

    op.drop_table("inventories")
