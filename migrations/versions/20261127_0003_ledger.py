"""The ledger (events, postings, balances, chain heads, Merkle nodes, checkpoints, witness
confirmations) and the outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 16:17:14.385327
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.immutable import drop_append_only, make_append_only

APPEND_ONLY = (
    "ledger_events",
    "ledger_postings",
    "ledger_merkle_nodes",
    "ledger_checkpoints",
    "ledger_witness_confirmations",
)


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kid", sa.String(length=100), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
    )
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.create_index(
            "uq_ledger_checkpoints_registrant_id_tree_size",
            ["registrant_id", "tree_size"],
            unique=True,
        )

    op.create_table(
        "ledger_merkle_nodes",
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint(
            "registrant_id", "level", "index", name=op.f("pk_ledger_merkle_nodes")
        ),
    )
    op.create_table(
        "outbox_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("registrant_id", sa.Uuid(), nullable=True),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_messages_dispatched_at_id", ["dispatched_at", "id"], unique=False
        )

    op.create_table(
        "ledger_heads",
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_ledger_heads_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("registrant_id", name=op.f("pk_ledger_heads")),
    )
    op.create_table(
        "ledger_balances",
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_ledger_balances_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["lots.id"], name=op.f("fk_ledger_balances_lot_id_lots")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_ledger_balances_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_ledger_balances_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("location_id", "lot_id", name=op.f("pk_ledger_balances")),
    )
    op.create_table(
        "ledger_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("to_location_id", sa.Uuid(), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("mg", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("performed_by", sa.Uuid(), nullable=True),
        sa.Column("witness_ids", sa.JSON(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("prescription_id", sa.Uuid(), nullable=True),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("counterparty", sa.JSON(), nullable=True),
        sa.Column("document_reference", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("reverses_event_id", sa.Uuid(), nullable=True),
        sa.Column("transfer_event_id", sa.Uuid(), nullable=True),
        sa.Column("is_record", sa.Boolean(), nullable=False),
        sa.Column("broken_rules", sa.JSON(), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("principal_subject", sa.String(length=200), nullable=False),
        sa.Column("principal_name", sa.String(length=200), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_ledger_events_location_id_locations")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_ledger_events_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_ledger_events_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["performed_by"], ["staff.id"], name=op.f("fk_ledger_events_performed_by_staff")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_ledger_events_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_ledger_events_registrant_id_registrants"),
        ),
        sa.ForeignKeyConstraint(
            ["reverses_event_id"],
            ["ledger_events.id"],
            name=op.f("fk_ledger_events_reverses_event_id_ledger_events"),
        ),
        sa.ForeignKeyConstraint(
            ["to_location_id"],
            ["locations.id"],
            name=op.f("fk_ledger_events_to_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_event_id"],
            ["ledger_events.id"],
            name=op.f("fk_ledger_events_transfer_event_id_ledger_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_events")),
    )
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_events_lot_id", ["lot_id"], unique=False)
        batch_op.create_index("ix_ledger_events_patient_id", ["patient_id"], unique=False)
        batch_op.create_index(
            "ix_ledger_events_registrant_id_occurred_at",
            ["registrant_id", "occurred_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_ledger_events_registrant_id_type",
            ["registrant_id", "type", "occurred_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_ledger_events_registrant_id_sequence", ["registrant_id", "sequence"], unique=True
        )
        batch_op.create_index(
            "uq_ledger_events_reverses_event_id", ["reverses_event_id"], unique=True
        )
        batch_op.create_index(
            "uq_ledger_events_transfer_event_id", ["transfer_event_id"], unique=True
        )

    op.create_table(
        "ledger_postings",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ledger_events.id"],
            name=op.f("fk_ledger_postings_event_id_ledger_events"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_ledger_postings_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["lots.id"], name=op.f("fk_ledger_postings_lot_id_lots")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_ledger_postings_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_ledger_postings_registrant_id_registrants"),
        ),
        sa.PrimaryKeyConstraint("event_id", "location_id", name=op.f("pk_ledger_postings")),
    )
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_postings_registrant_id_occurred_at",
            ["registrant_id", "occurred_at", "location_id", "lot_id"],
            unique=False,
        )

    op.create_table(
        "ledger_witness_confirmations",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ledger_events.id"],
            name=op.f("fk_ledger_witness_confirmations_event_id_ledger_events"),
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_ledger_witness_confirmations_registrant_id_registrants"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_ledger_witness_confirmations_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint(
            "event_id", "staff_id", name=op.f("pk_ledger_witness_confirmations")
        ),
    )
    for table in APPEND_ONLY:
        make_append_only(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
    op.drop_table("ledger_witness_confirmations")
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_postings_registrant_id_occurred_at")

    op.drop_table("ledger_postings")
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.drop_index("uq_ledger_events_transfer_event_id")
        batch_op.drop_index("uq_ledger_events_reverses_event_id")
        batch_op.drop_index("uq_ledger_events_registrant_id_sequence")
        batch_op.drop_index("ix_ledger_events_registrant_id_type")
        batch_op.drop_index("ix_ledger_events_registrant_id_occurred_at")
        batch_op.drop_index("ix_ledger_events_patient_id")
        batch_op.drop_index("ix_ledger_events_lot_id")

    op.drop_table("ledger_events")
    op.drop_table("ledger_balances")
    op.drop_table("ledger_heads")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_dispatched_at_id")

    op.drop_table("outbox_messages")
    op.drop_table("ledger_merkle_nodes")
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.drop_index("uq_ledger_checkpoints_registrant_id_tree_size")

    op.drop_table("ledger_checkpoints")
