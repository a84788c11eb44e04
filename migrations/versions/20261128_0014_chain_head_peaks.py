"""Each chain head keeps the hashes of its Merkle tree's peaks, filled in from the stored nodes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 04:31:26.394666
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_heads = sa.table(
    "ledger_heads",
    sa.column("registrant_id", sa.Uuid()),
    sa.column("sequence", sa.BigInteger()),
    sa.column("peaks", sa.JSON()),
)
_nodes = sa.table(
    "ledger_merkle_nodes",
    sa.column("registrant_id", sa.Uuid()),
    sa.column("level", sa.Integer()),
    sa.column("index", sa.BigInteger()),
    sa.column("hash", sa.String(64)),
)


def upgrade() -> None:
    with op.batch_alter_table("ledger_heads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("peaks", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
    connection = op.get_bind()
    heads = connection.execute(sa.select(_heads.c.registrant_id, _heads.c.sequence)
                               .where(_heads.c.sequence > 0)).all()  # fmt: skip
    for registrant_id, size in heads:
        connection.execute(
            _heads.update()
            .where(_heads.c.registrant_id == registrant_id)
            .values(peaks=_peak_hashes(connection, registrant_id, size))
        )


def _peak_hashes(connection: sa.Connection, registrant_id: object, size: int) -> list[str]:
    """The stored hashes of the complete subtrees a tree of ``size`` leaves is made of,
    largest first (as app.ledger.merkle.peaks names them; written out here, as migrations
    do not follow the code)."""
    wanted = [(level, (size >> level) - 1)
              for level in reversed(range(size.bit_length())) if size >> level & 1]  # fmt: skip
    rows = connection.execute(
        sa.select(_nodes.c.level, _nodes.c.index, _nodes.c.hash).where(
            _nodes.c.registrant_id == registrant_id,
            sa.tuple_(_nodes.c.level, _nodes.c.index).in_(wanted),
        )
    )
    found = {(level, index): hash_ for level, index, hash_ in rows}
    return [found[node] for node in wanted]


def downgrade() -> None:
    with op.batch_alter_table("ledger_heads", schema=None) as batch_op:
        batch_op.drop_column("peaks")
