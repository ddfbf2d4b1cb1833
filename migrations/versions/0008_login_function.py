"""PostgreSQL: a login under ``SESSION_MAX_PER_USER`` in one round trip (``session_service_login``).

A limited login must move the session and sign out the user's least recently used extras with
no other login of that user in between (README, "Sessions per user"). Without this revision the
store does that in its own transaction: ``BEGIN`` and the owner's advisory lock, the move and
the sign-out, ``COMMIT``: three round trips where an unlimited login needs one. This function
does the same steps in the one autocommit statement that calls it: it takes the owner's
transaction-scoped advisory lock first, and since a ``VOLATILE`` PL/pgSQL function reads each
of its statements on a fresh snapshot under ``READ COMMITTED``, the move and the sign-out see
every login of that user committed before the lock was granted. The sign-out is a ``DELETE``,
so revision 0006's trigger still notifies the evicted ids to the read caches.

The statements are this revision's own copy of the store's ``ROTATE_SQL`` and
``extra_sessions_sql`` (session_service/stores/sql/statements.py): a change to those needs a
revision that replaces the function. Creating a function takes no lock on ``sessions``, so
this upgrades a live database; it is a plain statement, so it runs behind a transaction
pooler. A store meeting a schema without it (code deployed before ``migrate``) falls back to
the three round trips. SQLite has no functions: this revision does nothing there.

Revision ID: 0008_login_function
Revises: 0007_limit_params
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_login_function"
down_revision: str | None = "0007_limit_params"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The argument types, in the order of the store's call (``PgSessionStore``): ``ROTATE_SQL``'s
#: twelve parameters, the limit, the lock's two keys.
_SIGNATURE = (
    "text, text, jsonb, timestamptz, text, text, timestamptz, text, timestamptz, text, text, "
    "timestamptz, integer, integer, integer"
)

_FUNCTION = """
CREATE OR REPLACE FUNCTION session_service_login(
  _old text, _new text, _data jsonb, _expiry timestamptz, _user text, _tenant text,
  _now timestamptz, _handle text, _seen timestamptz, _ip text, _agent text,
  _start timestamptz, _limit integer, _lock_class integer, _lock_key integer
) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  moved integer;
BEGIN
  PERFORM pg_advisory_xact_lock(_lock_class, _lock_key);
  UPDATE sessions SET last_seen = COALESCE(_seen, last_seen), id = _new, data = _data,
    expiry_date = _expiry, user_id = _user, tenant_id = _tenant, created_at = _now,
    updated_at = _now, handle = COALESCE(handle, _handle),
    ip = CASE WHEN _seen IS NULL THEN ip ELSE _ip END,
    user_agent = CASE WHEN _seen IS NULL THEN user_agent ELSE _agent END
  WHERE id = _old AND expiry_date > _now AND (created_at > _start OR created_at IS NULL);
  GET DIAGNOSTICS moved = ROW_COUNT;
  IF moved > 0 THEN
    DELETE FROM sessions WHERE id IN (
      SELECT id FROM (
        SELECT id, row_number() OVER (
          ORDER BY CASE WHEN last_seen > updated_at THEN last_seen ELSE updated_at END DESC,
          created_at DESC, id DESC) AS n
        FROM sessions
        WHERE user_id = _user AND (tenant_id = _tenant OR (tenant_id IS NULL AND _tenant IS NULL))
          AND expiry_date > _now AND id <> _new
      ) AS ranked WHERE n >= _limit);
  END IF;
  RETURN moved;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS session_service_login({_SIGNATURE})")
