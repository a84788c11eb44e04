"""Each integration holds the scopes its configuration grants at a registrant.

Until now any token with the integration role could do everything the role allows (list and
change patients, write any ledger event) at every registrant it named. From now on it may do
only what its configuration grants there. Existing configurations (FHIR senders) keep what
they were made for, sending FHIR records; an admin grants anything more.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SENDING = '["send_administrations", "send_dispenses"]'
"""app.auth.permissions.LEAST_SCOPES, written out: migrations do not follow the code."""


def upgrade() -> None:
    with op.batch_alter_table("fhir_senders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scopes", sa.JSON(), server_default=sa.text(f"'{_SENDING}'"), nullable=False)
        )
    # The default served the rows there; new rows always say their scopes.
    with op.batch_alter_table("fhir_senders", schema=None) as batch_op:
        batch_op.alter_column("scopes", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("fhir_senders", schema=None) as batch_op:
        batch_op.drop_column("scopes")
