"""Postings indexed by place and instant, with their delta: a place's balance at any instant
(an inventory as of it, the ledger at a count) is read from the index alone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 00:11:53.335200
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_postings_place_occurred_at",
            ["location_id", "lot_id", "occurred_at", "delta"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_postings_place_occurred_at")
