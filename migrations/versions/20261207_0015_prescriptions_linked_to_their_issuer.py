"""A prescription names the issuing clinic's registrant its pharmacy shares it with.

Until now a registrant whose staff held the prescriber's DEA number could read a pharmacy's
prescription: data any registrant can type into its own staff records. Sharing now rests on
the owner's decision alone; no existing prescription is linked (the pharmacy links it).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 10:18:00.852473
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prescriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issuer_registrant_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            "ix_prescriptions_issuer_registrant_id",
            ["issuer_registrant_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_prescriptions_issuer_registrant_id_registrants"),
            "registrants",
            ["issuer_registrant_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("prescriptions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_prescriptions_issuer_registrant_id_registrants"), type_="foreignkey"
        )
        batch_op.drop_index("ix_prescriptions_issuer_registrant_id")
        batch_op.drop_column("issuer_registrant_id")
