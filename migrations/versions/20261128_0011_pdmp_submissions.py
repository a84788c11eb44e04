"""Every PDMP file generated, kept as sent (append-only), numbered per registrant.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.immutable import drop_append_only, make_append_only

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pdmp_submissions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("report_date", sa.Date(), nullable=False),
        sa.Column("control_number", sa.String(length=9), nullable=False),
        sa.Column("dispenses", sa.Integer(), nullable=False),
        sa.Column("voids", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("detail_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_pdmp_submissions_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdmp_submissions")),
        sa.UniqueConstraint(
            "registrant_id",
            "control_number",
            name=op.f("uq_pdmp_submissions_registrant_id_control_number"),
        ),
    )
    make_append_only("pdmp_submissions")


def downgrade() -> None:
    drop_append_only("pdmp_submissions")
    op.drop_table("pdmp_submissions")
