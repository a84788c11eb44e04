"""The console's sign-ins: sessions a browser holds, and sign-ins in flight (an OpenID Connect
authorization request, or a development sign-in link). Only hashes of their secrets are kept.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("signed_in_with", sa.String(length=20), nullable=False),
        sa.Column("signed_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_why", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
    )
    op.create_index(
        "uq_console_sessions_secret_hash", "console_sessions", ["secret_hash"], unique=True
    )
    op.create_table(
        "console_sign_ins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("return_to", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sign_ins")),
    )
    op.create_index(
        "uq_console_sign_ins_secret_hash", "console_sign_ins", ["secret_hash"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_console_sign_ins_secret_hash", table_name="console_sign_ins")
    op.drop_table("console_sign_ins")
    op.drop_index("uq_console_sessions_secret_hash", table_name="console_sessions")
    op.drop_table("console_sessions")
