"""Evaluations (append-only) and treatment plans.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 18:58:07.036683
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.immutable import drop_append_only, make_append_only

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("prescriber_id", sa.Uuid(), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("in_person", sa.Boolean(), nullable=False),
        sa.Column("prior_treatments", sa.JSON(), nullable=False),
        sa.Column("contraindications", sa.JSON(), nullable=False),
        sa.Column("vitals", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("outcome_reason", sa.Text(), nullable=True),
        sa.Column("broken_rules", sa.JSON(), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_evaluations_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_id"], ["staff.id"], name=op.f("fk_evaluations_prescriber_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_evaluations_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_evaluations_patient_id_evaluated_on", ["patient_id", "evaluated_on"], unique=False
        )
        batch_op.create_index(
            "ix_evaluations_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "treatment_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("prescriber_id", sa.Uuid(), nullable=False),
        sa.Column("evaluation_id", sa.Uuid(), nullable=False),
        sa.Column("modality", sa.String(length=30), nullable=False),
        sa.Column("dose_mg_per_kg", sa.BigInteger(), nullable=True),
        sa.Column("dose_mg", sa.BigInteger(), nullable=True),
        sa.Column("mg_per_unit", sa.BigInteger(), nullable=True),
        sa.Column("units_per_dose", sa.BigInteger(), nullable=True),
        sa.Column("sessions_per_week", sa.Integer(), nullable=False),
        sa.Column("total_sessions", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("broken_rules", sa.JSON(), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_treatment_plans_evaluation_id_evaluations"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_treatment_plans_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_id"], ["staff.id"], name=op.f("fk_treatment_plans_prescriber_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_treatment_plans_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatment_plans")),
    )
    with op.batch_alter_table("treatment_plans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_treatment_plans_patient_id_status", ["patient_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_treatment_plans_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )
    make_append_only("evaluations")


def downgrade() -> None:
    drop_append_only("evaluations")
    with op.batch_alter_table("treatment_plans", schema=None) as batch_op:
        batch_op.drop_index("ix_treatment_plans_registrant_id_created_at")
        batch_op.drop_index("ix_treatment_plans_patient_id_status")

    op.drop_table("treatment_plans")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_evaluations_registrant_id_created_at")
        batch_op.drop_index("ix_evaluations_patient_id_evaluated_on")

    op.drop_table("evaluations")
