"""Sessions filed by a hash of their id: every stored id replaced by ``at_rest_id(id)``.

No session is signed out: a cookie's id is hashed on every lookup from now on, so it finds
its rewritten row. The rows are rewritten in batches, each committed on its own
(:mod:`session_service.stores.sql.rehash`), so no lock holds up logins for more than one
batch; a row that already holds a hash is skipped, so an interrupted upgrade simply runs
again. An ``id`` column narrower than a hash (a table made by hand before Alembic) is
widened first. Run it with the new version before it serves, and with no older version
serving: an older version looks sessions up by the id itself and finds none (docs/
operations.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from session_service.storable import AT_REST_ID_LENGTH, ID_LENGTH
from session_service.stores.sql.rehash import rehash_ids

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    [column] = [c for c in sa.inspect(bind).get_columns("sessions") if c["name"] == "id"]
    length = getattr(column["type"], "length", None)
    if length is not None and length < AT_REST_ID_LENGTH:
        with op.batch_alter_table("sessions") as batch:
            batch.alter_column("id", type_=sa.String(ID_LENGTH), existing_nullable=False)
    rehash_ids(bind)
    # A second process that started this revision while the first was between batches has
    # rehashed along with it and stamped 0005 first; put the row back as Alembic expects it
    # for its own stamp (0004 -> 0005), in this locked transaction.
    bind.execute(
        sa.text("UPDATE alembic_version SET version_num = '0004' WHERE version_num = '0005'")
    )


def downgrade() -> None:
    """Nothing to undo: a hash cannot give the id back. An older version reading this table
    finds no session (its users sign in again)."""
