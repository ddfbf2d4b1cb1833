"""Rate limits remember their numbers: ``limit_count`` and ``window_ms`` on ``session_limits``.

Every allowed hit writes the limit and the window (ms) the app passed, so ``session-service
limits show KEY`` can say what the next hit would get without the operator repeating them.
Both nullable: a row logged before this revision has neither until its key is hit again, and
``limits show`` says so.

Revision ID: 0007_limit_params
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_limit_params"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("limit_count", sa.BigInteger()), ("window_ms", sa.BigInteger()))


def upgrade() -> None:
    existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("session_limits")}
    for name, type_ in _COLUMNS:
        if name not in existing:
            op.add_column("session_limits", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("session_limits") as batch:
        for name, _type in reversed(_COLUMNS):
            batch.drop_column(name)
