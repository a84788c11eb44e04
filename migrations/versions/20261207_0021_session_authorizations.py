"""A prescriber authorizes, with their own token, a session step a clinician takes that breaks
a session rule (a dose beyond the plan, an extra session, an early discharge): the clinician is
recorded as who took it, beside the prescriber who authorized it. An authorization is used
once (``used_at``), so the table is not append-only.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 18:19:50.061861
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_authorizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("plan_id", sa.Uuid(), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("performer_id", sa.Uuid(), nullable=False),
        sa.Column("authorizer_id", sa.Uuid(), nullable=False),
        sa.Column("authorized_by", sa.String(length=200), nullable=False),
        sa.Column("authorized_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["authorizer_id"],
            ["staff.id"],
            name=op.f("fk_session_authorizations_authorizer_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["performer_id"],
            ["staff.id"],
            name=op.f("fk_session_authorizations_performer_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["treatment_plans.id"],
            name=op.f("fk_session_authorizations_plan_id_treatment_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_session_authorizations_registrant_id_registrants"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["treatment_sessions.id"],
            name=op.f("fk_session_authorizations_session_id_treatment_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_authorizations")),
    )
    with op.batch_alter_table("session_authorizations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_session_authorizations_registrant_id_authorized_at",
            ["registrant_id", "authorized_at", "id"],
            unique=False,
        )
        batch_op.create_index("ix_session_authorizations_plan_id", ["plan_id"], unique=False)
        batch_op.create_index("ix_session_authorizations_session_id", ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_authorizations", schema=None) as batch_op:
        batch_op.drop_index("ix_session_authorizations_session_id")
        batch_op.drop_index("ix_session_authorizations_plan_id")
        batch_op.drop_index("ix_session_authorizations_registrant_id_authorized_at")

    op.drop_table("session_authorizations")
