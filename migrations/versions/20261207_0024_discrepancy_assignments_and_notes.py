"""A discrepancy is worked by someone: its assignee (each assignment kept, append-only: who
gave whom the case, when) and its notes (append-only: who wrote what, when).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.immutable import drop_append_only, make_append_only

APPEND_ONLY = ("discrepancy_assignments", "discrepancy_notes")

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("discrepancies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_to", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_discrepancies_assigned_to_staff"), "staff", ["assigned_to"], ["id"]
        )
        batch_op.create_index(
            "ix_discrepancies_registrant_id_assigned_to",
            ["registrant_id", "assigned_to"],
            unique=False,
        )
    _create_case_table("discrepancy_assignments", sa.Column("staff_id", sa.Uuid(), nullable=True))
    _create_case_table("discrepancy_notes", sa.Column("text", sa.Text(), nullable=False))
    for table in APPEND_ONLY:
        make_append_only(table)


def _create_case_table(table: str, content: sa.Column[object]) -> None:
    """A row kept about one discrepancy: its content, who wrote it, and when."""
    references = [
        sa.ForeignKeyConstraint(
            ["discrepancy_id"],
            ["discrepancies.id"],
            name=op.f(f"fk_{table}_discrepancy_id_discrepancies"),
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f(f"fk_{table}_registrant_id_registrants"),
        ),
    ]
    if content.name == "staff_id":
        references.append(
            sa.ForeignKeyConstraint(
                ["staff_id"], ["staff.id"], name=op.f(f"fk_{table}_staff_id_staff")
            )
        )
    op.create_table(
        table,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("discrepancy_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        content,
        sa.Column("by_subject", sa.String(length=200), nullable=False),
        sa.Column("by_name", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        *references,
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint(
            "discrepancy_id", "sequence", name=op.f(f"uq_{table}_discrepancy_id_sequence")
        ),
    )


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
        op.drop_table(table)
    with op.batch_alter_table("discrepancies", schema=None) as batch_op:
        batch_op.drop_index("ix_discrepancies_registrant_id_assigned_to")
        batch_op.drop_constraint(
            batch_op.f("fk_discrepancies_assigned_to_staff"), type_="foreignkey"
        )
        batch_op.drop_column("assigned_to")
