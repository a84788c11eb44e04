"""FHIR senders (an integration enabled at a registrant, with its location) and every FHIR
resource received, unique per registrant, sender, type and business identifier.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 02:07:37.740564
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fhir_senders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_fhir_senders_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_fhir_senders_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_senders")),
        sa.UniqueConstraint(
            "registrant_id", "subject", name=op.f("uq_fhir_senders_registrant_id_subject")
        ),
    )
    with op.batch_alter_table("fhir_senders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_senders_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "fhir_resources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("identifier_system", sa.String(length=255), nullable=False),
        sa.Column("identifier_value", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("event_ids", sa.JSON(), nullable=False),
        sa.Column("reversal_event_ids", sa.JSON(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("session_administration_ids", sa.JSON(), nullable=False),
        sa.Column("prescription_id", sa.Uuid(), nullable=True),
        sa.Column("fill_id", sa.Uuid(), nullable=True),
        sa.Column("broken_rules", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["fill_id"],
            ["prescription_fills.id"],
            name=op.f("fk_fhir_resources_fill_id_prescription_fills"),
        ),
        sa.ForeignKeyConstraint(
            ["prescription_id"],
            ["prescriptions.id"],
            name=op.f("fk_fhir_resources_prescription_id_prescriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_fhir_resources_registrant_id_registrants"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["treatment_sessions.id"],
            name=op.f("fk_fhir_resources_session_id_treatment_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_resources")),
        sa.UniqueConstraint(
            "registrant_id",
            "sender",
            "resource_type",
            "identifier_system",
            "identifier_value",
            name=op.f("uq_fhir_resources_sender_identifier"),
        ),
    )
    with op.batch_alter_table("fhir_resources", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_resources_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("fhir_resources", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_resources_registrant_id_created_at")

    op.drop_table("fhir_resources")
    with op.batch_alter_table("fhir_senders", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_senders_registrant_id_created_at")

    op.drop_table("fhir_senders")
