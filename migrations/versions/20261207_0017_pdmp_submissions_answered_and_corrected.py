"""PDMP submissions carry their file's SHA-256, who sent them and the rejected submission they
correct; the state's answers to them are kept (append-only).

Until now every pull of a day's file was kept as a submission; from now on a pull is a preview
that keeps nothing, and only a file submitted is kept. The files kept so far stay submissions
(awaiting the state's answer, which a compliance officer records): each was generated under a
control number and may have been sent. Their SHA-256 is computed here, with the table's
triggers set aside for the migration.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 11:54:44.148558
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.immutable import drop_append_only, make_append_only

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACCEPTED = sa.text("outcome = 'accepted'")
_SUBMISSIONS = sa.table(
    "pdmp_submissions",
    sa.column("id", sa.Uuid()),
    sa.column("content", sa.Text()),
    sa.column("content_sha256", sa.String(length=64)),
)


def upgrade() -> None:
    # SQLite's batch mode copies the table, dropping its triggers: they are made again below.
    drop_append_only("pdmp_submissions")
    with op.batch_alter_table("pdmp_submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("corrects_submission_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("created_by_name", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "ix_pdmp_submissions_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_pdmp_submissions_registrant_id_report_date",
            ["registrant_id", "report_date"],
            unique=False,
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_pdmp_submissions_corrects_submission_id"), ["corrects_submission_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_pdmp_submissions_corrects_submission_id_pdmp_submissions"),
            "pdmp_submissions",
            ["corrects_submission_id"],
            ["id"],
        )
    _hash_the_files_kept()
    with op.batch_alter_table("pdmp_submissions", schema=None) as batch_op:
        batch_op.alter_column("content_sha256", existing_type=sa.String(length=64), nullable=False)
    make_append_only("pdmp_submissions")

    op.create_table(
        "pdmp_responses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("state_reference", sa.String(length=100), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_by_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_pdmp_responses_registrant_id_registrants"),
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["pdmp_submissions.id"],
            name=op.f("fk_pdmp_responses_submission_id_pdmp_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdmp_responses")),
        sa.UniqueConstraint(
            "submission_id", "number", name=op.f("uq_pdmp_responses_submission_id_number")
        ),
    )
    with op.batch_alter_table("pdmp_responses", schema=None) as batch_op:
        batch_op.create_index(
            "uq_pdmp_responses_accepted_submission_id",
            ["submission_id"],
            unique=True,
            postgresql_where=_ACCEPTED,
            sqlite_where=_ACCEPTED,
        )
    make_append_only("pdmp_responses")


def _hash_the_files_kept() -> None:
    connection = op.get_bind()
    kept = connection.execute(sa.select(_SUBMISSIONS.c.id, _SUBMISSIONS.c.content)).all()
    for submission_id, content in kept:
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
        connection.execute(
            _SUBMISSIONS.update()
            .where(_SUBMISSIONS.c.id == submission_id)
            .values(content_sha256=digest)
        )


def downgrade() -> None:
    drop_append_only("pdmp_responses")
    with op.batch_alter_table("pdmp_responses", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_pdmp_responses_accepted_submission_id",
            postgresql_where=_ACCEPTED,
            sqlite_where=_ACCEPTED,
        )
    op.drop_table("pdmp_responses")

    drop_append_only("pdmp_submissions")
    with op.batch_alter_table("pdmp_submissions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_pdmp_submissions_corrects_submission_id_pdmp_submissions"),
            type_="foreignkey",
        )
        batch_op.drop_constraint(
            batch_op.f("uq_pdmp_submissions_corrects_submission_id"), type_="unique"
        )
        batch_op.drop_index("ix_pdmp_submissions_registrant_id_report_date")
        batch_op.drop_index("ix_pdmp_submissions_registrant_id_created_at")
        batch_op.drop_column("created_by_name")
        batch_op.drop_column("corrects_submission_id")
        batch_op.drop_column("content_sha256")
    make_append_only("pdmp_submissions")
