"""Device columns for "your devices": ip, user_agent, last_seen and a public handle.

All nullable and filled by the stores from now on: ip, user_agent and last_seen only while
``SESSION_TRACK_DEVICES`` is on, handle for every new session. Existing rows keep NULLs; a
listing gives a row without a handle a fresh random one (a handle must never be derived from
the id, which SQL alone could not avoid here).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("ip", sa.String(64)),
    ("user_agent", sa.String(512)),
    ("last_seen", sa.DateTime(timezone=True)),
    ("handle", sa.String(32)),
)


def upgrade() -> None:
    existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("sessions")}
    for name, type_ in _COLUMNS:
        if name not in existing:
            op.add_column("sessions", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        for name, _type in reversed(_COLUMNS):
            batch.drop_column(name)
