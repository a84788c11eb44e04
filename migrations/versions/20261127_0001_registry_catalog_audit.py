"""Registry, catalog, revisions and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 15:15:09.649990
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.immutable import (
    create_refuse_function,
    drop_append_only,
    drop_refuse_function,
    make_append_only,
)

APPEND_ONLY = ("audit_log", "revisions", "staff_registrations")


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("subject_name", sa.String(length=200), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=300), nullable=False),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("resource_type", sa.String(length=50), nullable=True),
        sa.Column("resource_id", sa.String(length=100), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("problem_type", sa.String(length=200), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_log_registrant_id_at", ["registrant_id", "at"], unique=False
        )
        batch_op.create_index("ix_audit_log_subject_at", ["subject", "at"], unique=False)

    op.create_table(
        "registrants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("dea_number", sa.String(length=9), nullable=False),
        sa.Column("schedules", sa.JSON(), nullable=False),
        sa.Column("registration_expires_on", sa.Date(), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("npi", sa.String(length=10), nullable=True),
        sa.Column("ncpdp", sa.String(length=7), nullable=True),
        sa.Column("rems_certification_id", sa.String(length=50), nullable=True),
        sa.Column("rems_certification_status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrants")),
        sa.UniqueConstraint("dea_number", name=op.f("uq_registrants_dea_number")),
    )
    with op.batch_alter_table("registrants", schema=None) as batch_op:
        batch_op.create_index("ix_registrants_created_at", ["created_at", "id"], unique=False)

    op.create_table(
        "revisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("entity_type", sa.String(length=30), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisions")),
        sa.UniqueConstraint(
            "entity_type",
            "entity_id",
            "version",
            name=op.f("uq_revisions_entity_type_entity_id_version"),
        ),
    )
    with op.batch_alter_table("revisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_revisions_registrant_id_entity_type", ["registrant_id", "entity_type"], unique=False
        )

    op.create_table(
        "locations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_locations_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("registrant_id", "name", name=op.f("uq_locations_registrant_id_name")),
    )
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_locations_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "patients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=10), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("weight_kg", sa.BigInteger(), nullable=True),
        sa.Column("rems_enrollment_id", sa.String(length=50), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_patients_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
        sa.UniqueConstraint(
            "registrant_id", "external_id", name=op.f("uq_patients_registrant_id_external_id")
        ),
    )
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_patients_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ndc", sa.String(length=11), nullable=True),
        sa.Column("compound_code", sa.String(length=50), nullable=True),
        sa.Column("substance", sa.String(length=20), nullable=False),
        sa.Column("dea_code", sa.String(length=4), nullable=False),
        sa.Column("schedule", sa.String(length=2), nullable=False),
        sa.Column("dosage_form", sa.String(length=30), nullable=False),
        sa.Column("strength_value", sa.BigInteger(), nullable=False),
        sa.Column("strength_unit", sa.String(length=10), nullable=False),
        sa.Column("strength_basis", sa.String(length=4), nullable=False),
        sa.Column("inventory_unit", sa.String(length=10), nullable=False),
        sa.Column("package_size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_products_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint(
            "registrant_id", "compound_code", name=op.f("uq_products_registrant_id_compound_code")
        ),
        sa.UniqueConstraint("registrant_id", "ndc", name=op.f("uq_products_registrant_id_ndc")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(
            "ix_products_registrant_id_created_at",
            ["registrant_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "staff",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("npi", sa.String(length=10), nullable=True),
        sa.Column("state_license", sa.String(length=50), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registrant_id"], ["registrants.id"], name=op.f("fk_staff_registrant_id_registrants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint(
            "registrant_id", "subject", name=op.f("uq_staff_registrant_id_subject")
        ),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(
            "ix_staff_registrant_id_created_at", ["registrant_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "lots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("lot_number", sa.String(length=50), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_lots_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"], ["registrants.id"], name=op.f("fk_lots_registrant_id_registrants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lots")),
        sa.UniqueConstraint("product_id", "lot_number", name=op.f("uq_lots_product_id_lot_number")),
    )
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lots_product_id_created_at", ["product_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lots_registrant_id"), ["registrant_id"], unique=False)

    op.create_table(
        "product_ingredients",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ndc", sa.String(length=11), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_ingredients_product_id_products")
        ),
        sa.PrimaryKeyConstraint("product_id", "position", name=op.f("pk_product_ingredients")),
    )
    op.create_table(
        "staff_registrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("dea_number", sa.String(length=9), nullable=False),
        sa.Column("schedules", sa.JSON(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_staff_registrations_registrant_id_registrants"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_staff_registrations_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_registrations")),
    )
    with op.batch_alter_table("staff_registrations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_registrations_dea_number"), ["dea_number"], unique=False
        )
        batch_op.create_index(
            "ix_staff_registrations_staff_id_expires_on", ["staff_id", "expires_on"], unique=False
        )
    create_refuse_function()
    for table in APPEND_ONLY:
        make_append_only(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
    drop_refuse_function()
    with op.batch_alter_table("staff_registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_registrations_staff_id_expires_on")
        batch_op.drop_index(batch_op.f("ix_staff_registrations_dea_number"))

    op.drop_table("staff_registrations")
    op.drop_table("product_ingredients")
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lots_registrant_id"))
        batch_op.drop_index("ix_lots_product_id_created_at")

    op.drop_table("lots")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_registrant_id_created_at")

    op.drop_table("staff")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index("ix_products_registrant_id_created_at")

    op.drop_table("products")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index("ix_patients_registrant_id_created_at")

    op.drop_table("patients")
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.drop_index("ix_locations_registrant_id_created_at")

    op.drop_table("locations")
    with op.batch_alter_table("revisions", schema=None) as batch_op:
        batch_op.drop_index("ix_revisions_registrant_id_entity_type")

    op.drop_table("revisions")
    with op.batch_alter_table("registrants", schema=None) as batch_op:
        batch_op.drop_index("ix_registrants_created_at")

    op.drop_table("registrants")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject_at")
        batch_op.drop_index("ix_audit_log_registrant_id_at")

    op.drop_table("audit_log")
