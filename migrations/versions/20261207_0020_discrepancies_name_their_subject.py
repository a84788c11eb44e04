"""A discrepancy names what it is about as fields: beside its location and product, the lot,
the patient and the session (before, these lived in its details or its summary's words).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 17:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBJECTS = (("lot_id", "lots"), ("patient_id", "patients"), ("session_id", "treatment_sessions"))


def upgrade() -> None:
    with op.batch_alter_table("discrepancies", schema=None) as batch_op:
        for column, table in SUBJECTS:
            batch_op.add_column(sa.Column(column, sa.Uuid(), nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f"fk_discrepancies_{column}_{table}"), table, [column], ["id"]
            )


def downgrade() -> None:
    with op.batch_alter_table("discrepancies", schema=None) as batch_op:
        for column, table in reversed(SUBJECTS):
            batch_op.drop_constraint(batch_op.f(f"fk_discrepancies_{column}_{table}"),
                                     type_="foreignkey")  # fmt: skip
            batch_op.drop_column(column)
