"""Track the owner of each session: user_id and tenant_id columns, timestamps, indexes.

Upgrades a table of the original shape in place, keeping its rows: ``user_id`` is backfilled
from ``data["user_id"]`` (strings and integers, as the stores write it), ``created_at`` and
``updated_at`` start at the time of the upgrade. On PostgreSQL, columns made with looser types
by older versions are converted (``data`` text/json to ``jsonb``, naive ``expiry_date`` read as
UTC); on SQLite, expiry dates in other ISO spellings are rewritten in the one sortable form the
stores compare against.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_D = "[0-9]"
#: GLOB pattern of the one expiry spelling the stores compare against: "YYYY-MM-DD HH:MM:SS.ffffff".
_SQLITE_CANONICAL = f"{_D * 4}-{_D * 2}-{_D * 2} {_D * 2}:{_D * 2}:{_D * 2}.{_D * 6}"


def _columns(bind: sa.engine.Connection) -> dict[str, str]:
    return {c["name"]: str(c["type"]).lower() for c in sa.inspect(bind).get_columns("sessions")}


def _upgrade_postgres(cols: dict[str, str]) -> None:
    if cols["data"] != "jsonb":
        op.execute("ALTER TABLE sessions ALTER COLUMN data TYPE jsonb USING data::text::jsonb")
    if "with time zone" not in cols["expiry_date"]:
        op.execute(
            "ALTER TABLE sessions ALTER COLUMN expiry_date TYPE timestamptz "
            "USING expiry_date AT TIME ZONE 'UTC'"
        )
    op.execute(
        "UPDATE sessions SET user_id = data->>'user_id' "
        "WHERE jsonb_typeof(data->'user_id') IN ('string', 'number')"
    )


def _upgrade_sqlite() -> None:
    op.execute(
        "UPDATE sessions SET expiry_date = strftime('%Y-%m-%d %H:%M:%S', expiry_date) "
        f"|| '.000000' WHERE expiry_date NOT GLOB '{_SQLITE_CANONICAL}'"
    )
    op.execute(
        "UPDATE sessions SET user_id = CAST(json_extract(data, '$.user_id') AS TEXT) "
        "WHERE json_valid(data) AND json_type(data, '$.user_id') IN ('text', 'integer')"
    )


def upgrade() -> None:
    bind = op.get_bind()
    cols = _columns(bind)
    now = sa.func.now() if bind.dialect.name == "postgresql" else sa.text("'1970-01-01'")
    for name, type_ in (("user_id", sa.String(255)), ("tenant_id", sa.String(255))):
        if name not in cols:
            op.add_column("sessions", sa.Column(name, type_, nullable=True))
    for name in ("created_at", "updated_at"):
        if name not in cols:
            # A server default fills existing rows; new rows always get a value from the store.
            op.add_column(
                "sessions",
                sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=now),
            )
    if bind.dialect.name == "postgresql":
        _upgrade_postgres(cols)
    else:
        _upgrade_sqlite()
        op.execute(
            "UPDATE sessions SET created_at = strftime('%Y-%m-%d %H:%M:%f000', 'now'), "
            "updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') "
            "WHERE created_at = '1970-01-01'"
        )
    existing = {ix["name"] for ix in sa.inspect(bind).get_indexes("sessions")}
    for name, columns in (
        ("ix_sessions_user_tenant", ["user_id", "tenant_id"]),
        ("ix_sessions_expiry_date", ["expiry_date"]),
        ("ix_sessions_tenant", ["tenant_id"]),
    ):
        if name not in existing:
            op.create_index(name, "sessions", columns)


def downgrade() -> None:
    for name in ("ix_sessions_tenant", "ix_sessions_expiry_date", "ix_sessions_user_tenant"):
        op.drop_index(name, table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        for name in ("updated_at", "created_at", "tenant_id", "user_id"):
            batch.drop_column(name)
