"""Rate limits and counters: the ``session_limits`` and ``session_counters`` tables.

Both are keyed by the app's key (up to 512 characters) and carry ``expires_at`` in
milliseconds of the app clock, indexed for the cleanup that deletes expired rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "session_limits" not in existing:
        op.create_table(
            "session_limits",
            sa.Column("key", sa.String(512), primary_key=True),
            sa.Column("hits", sa.Text(), nullable=False),
            sa.Column("expires_at", sa.BigInteger(), nullable=False),
        )
        op.create_index("ix_session_limits_expires_at", "session_limits", ["expires_at"])
    if "session_counters" not in existing:
        op.create_table(
            "session_counters",
            sa.Column("key", sa.String(512), primary_key=True),
            sa.Column("value", sa.BigInteger(), nullable=False),
            sa.Column("expires_at", sa.BigInteger(), nullable=True),
        )
        op.create_index("ix_session_counters_expires_at", "session_counters", ["expires_at"])


def downgrade() -> None:
    op.drop_table("session_counters")
    op.drop_table("session_limits")
