"""A FHIR record is never lost for want of a detail: kept unposted until it can post.

A resource that says stock moved but whose lot cannot be told, or whose medication code names
no product yet, is stored unposted (why, in ``unposted_because``) until a compliance officer
assigns its lot or maps the sender's code to a product (``fhir_code_mappings``); each stored
resource keeps the product and lot it moved, and who told the lot.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 14:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fhir_resources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("lot_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("lot_source", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("unposted_because", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("unposted_detail", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_fhir_resources_product_id_products"), "products", ["product_id"],
            ["id"],
        )  # fmt: skip
        batch_op.create_foreign_key(
            batch_op.f("fk_fhir_resources_lot_id_lots"), "lots", ["lot_id"], ["id"]
        )
    op.create_table(
        "fhir_code_mappings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["registrant_id"], ["registrants.id"],
                                name=op.f("fk_fhir_code_mappings_registrant_id_registrants")),
        sa.ForeignKeyConstraint(["sender_id"], ["fhir_senders.id"],
                                name=op.f("fk_fhir_code_mappings_sender_id_fhir_senders")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_fhir_code_mappings_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_code_mappings")),
        sa.UniqueConstraint("sender_id", "system", "code",
                            name=op.f("uq_fhir_code_mappings_sender_id_system_code")),
    )  # fmt: skip
    op.create_index("ix_fhir_code_mappings_registrant_id_created_at", "fhir_code_mappings",
                    ["registrant_id", "created_at", "id"])  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_fhir_code_mappings_registrant_id_created_at", table_name="fhir_code_mappings")
    op.drop_table("fhir_code_mappings")
    with op.batch_alter_table("fhir_resources", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_fhir_resources_lot_id_lots"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_fhir_resources_product_id_products"),
                                 type_="foreignkey")  # fmt: skip
        batch_op.drop_column("unposted_detail")
        batch_op.drop_column("unposted_because")
        batch_op.drop_column("lot_source")
        batch_op.drop_column("lot_id")
        batch_op.drop_column("product_id")
