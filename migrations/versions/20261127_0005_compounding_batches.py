"""Compounding batches and their ingredients (append-only).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 19:43:27.205033
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.immutable import drop_append_only, make_append_only

APPEND_ONLY = ("compounding_batches", "compounding_ingredients")


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "compounding_batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("finished_lot_id", sa.Uuid(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("beyond_use_date", sa.Date(), nullable=False),
        sa.Column("compounded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("compounded_by", sa.Uuid(), nullable=False),
        sa.Column("checked_by", sa.Uuid(), nullable=False),
        sa.Column("mg_in_base", sa.BigInteger(), nullable=False),
        sa.Column("mg_out_base", sa.BigInteger(), nullable=False),
        sa.Column("yield_percent", sa.BigInteger(), nullable=False),
        sa.Column("yield_reason", sa.Text(), nullable=True),
        sa.Column("broken_rules", sa.JSON(), nullable=False),
        sa.Column("produce_event_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checked_by"], ["staff.id"], name=op.f("fk_compounding_batches_checked_by_staff")
        ),
        sa.ForeignKeyConstraint(
            ["compounded_by"], ["staff.id"], name=op.f("fk_compounding_batches_compounded_by_staff")
        ),
        sa.ForeignKeyConstraint(
            ["finished_lot_id"],
            ["lots.id"],
            name=op.f("fk_compounding_batches_finished_lot_id_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_compounding_batches_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["produce_event_id"],
            ["ledger_events.id"],
            name=op.f("fk_compounding_batches_produce_event_id_ledger_events"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_compounding_batches_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_compounding_batches_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compounding_batches")),
        sa.UniqueConstraint("finished_lot_id", name=op.f("uq_compounding_batches_finished_lot_id")),
    )
    with op.batch_alter_table("compounding_batches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_compounding_batches_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "compounding_ingredients",
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("mg_base", sa.BigInteger(), nullable=False),
        sa.Column("consume_event_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["compounding_batches.id"],
            name=op.f("fk_compounding_ingredients_batch_id_compounding_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["consume_event_id"],
            ["ledger_events.id"],
            name=op.f("fk_compounding_ingredients_consume_event_id_ledger_events"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["lots.id"], name=op.f("fk_compounding_ingredients_lot_id_lots")
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_compounding_ingredients_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("batch_id", "position", name=op.f("pk_compounding_ingredients")),
    )
    with op.batch_alter_table("compounding_ingredients", schema=None) as batch_op:
        batch_op.create_index("ix_compounding_ingredients_lot_id", ["lot_id"], unique=False)
    for table in APPEND_ONLY:
        make_append_only(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
    with op.batch_alter_table("compounding_ingredients", schema=None) as batch_op:
        batch_op.drop_index("ix_compounding_ingredients_lot_id")

    op.drop_table("compounding_ingredients")
    with op.batch_alter_table("compounding_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_compounding_batches_registrant_id_created_at")

    op.drop_table("compounding_batches")
