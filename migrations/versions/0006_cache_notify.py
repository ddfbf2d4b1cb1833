"""PostgreSQL tells every process which sessions ended (the read cache, ``SESSION_CACHE``).

Triggers on ``sessions`` ``NOTIFY`` the channel ``session_service_revoked``, whatever ran the
statement (the store, ``psql``, another tool):

* a statement-level ``AFTER DELETE`` trigger names the ids of the deleted rows that were
  still live, space-separated, or ``*`` when more than :data:`_LISTED` went (one
  notification's payload stays well under PostgreSQL's 8000 bytes); rows deleted because they
  had expired (the cleanup) are not named, and a cleanup batch notifies nothing;
* an ``AFTER TRUNCATE`` trigger notifies ``*``;
* a row-level ``AFTER UPDATE OF id, expiry_date`` trigger, only for a row whose id changed (a
  rotation: its old id) or whose expiry moved into the past, names the old id. Its ``WHEN``
  is evaluated without calling the function, so the per-request updates pay nearly nothing.

A notification is sent when its transaction commits, and not at all when it rolls back.
SQLite has no cache (``SESSION_CACHE=local`` is refused there): this revision does nothing
on it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LISTED = 100

_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION session_service_notify_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
BEGIN
  SELECT array_agg(id) INTO ids FROM (
    SELECT id FROM session_service_gone WHERE expiry_date > now() LIMIT {_LISTED + 1}
  ) AS live;
  IF ids IS NULL THEN
    RETURN NULL;
  ELSIF cardinality(ids) > {_LISTED} THEN
    PERFORM pg_notify('session_service_revoked', '*');
  ELSE
    PERFORM pg_notify('session_service_revoked', array_to_string(ids, ' '));
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION session_service_notify_all() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('session_service_revoked', '*');
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION session_service_notify_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('session_service_revoked', OLD.id);
  RETURN NULL;
END $$;
"""

_TRIGGERS = """
CREATE TRIGGER session_service_deleted AFTER DELETE ON sessions
  REFERENCING OLD TABLE AS session_service_gone
  FOR EACH STATEMENT EXECUTE FUNCTION session_service_notify_deleted();
CREATE TRIGGER session_service_truncated AFTER TRUNCATE ON sessions
  FOR EACH STATEMENT EXECUTE FUNCTION session_service_notify_all();
CREATE TRIGGER session_service_moved AFTER UPDATE OF id, expiry_date ON sessions
  FOR EACH ROW
  WHEN (OLD.id IS DISTINCT FROM NEW.id
        OR (NEW.expiry_date <= now() AND OLD.expiry_date > now()))
  EXECUTE FUNCTION session_service_notify_moved();
"""

_DROP = """
DROP TRIGGER IF EXISTS session_service_moved ON sessions;
DROP TRIGGER IF EXISTS session_service_truncated ON sessions;
DROP TRIGGER IF EXISTS session_service_deleted ON sessions;
DROP FUNCTION IF EXISTS session_service_notify_moved();
DROP FUNCTION IF EXISTS session_service_notify_all();
DROP FUNCTION IF EXISTS session_service_notify_deleted();
"""


def _statements(script: str, end: str) -> list[str]:
    """One statement each (a driver that prepares statements takes one at a time)."""
    return [s.strip() + end.strip() for s in script.split(end) if s.strip()]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _statements(_FUNCTIONS, " $$;"):
        op.execute(statement)
    for statement in _statements(_DROP, ";")[:3]:  # triggers left by a partial manual drop
        op.execute(statement)
    for statement in _statements(_TRIGGERS, ";"):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _statements(_DROP, ";"):
        op.execute(statement)
