"""A discrepancy's transitions name the reconciliation run that made them.

A run now moves discrepancies itself: it cures a finding whose condition no longer holds, and
opens again a cured one that comes back. Its transitions name it (``run_id``); a person's name
none.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 12:05:41.593367
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.immutable import drop_append_only, make_append_only

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "discrepancy_transitions"
"""Append-only: adding a column keeps its triggers on both dialects (SQLite adds it in place)."""


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("run_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table, which leaves its triggers behind.
    drop_append_only(TABLE)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_column("run_id")
    make_append_only(TABLE)
