"""PostgreSQL: ``session_service_login`` says how many sessions it signed out.

Revision 0008's function returns whether the session moved (``1`` or ``0``), so the sessions
its ``SESSION_MAX_PER_USER`` sign-out deleted went uncounted in the ``revoked`` metric
(docs/operations.md, "Metrics"), which every other path counts. This revision replaces it with
the same steps returning the rows moved plus the rows signed out: ``0`` still means nothing
moved, and a store reading a ``1`` from revision 0008's function counts no sign-outs, so old
code and old schema keep working with each other. Replacing a function takes no lock on
``sessions`` and is a plain statement (a live database, a transaction pooler: as 0008).

Revision ID: 0009_login_signed_out
Revises: 0008_login_function
Create Date: 2026-12-07
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0009_login_signed_out"
down_revision: str | None = "0008_login_function"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTION = """
CREATE OR REPLACE FUNCTION session_service_login(
  _old text, _new text, _data jsonb, _expiry timestamptz, _user text, _tenant text,
  _now timestamptz, _handle text, _seen timestamptz, _ip text, _agent text,
  _start timestamptz, _limit integer, _lock_class integer, _lock_key integer
) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  moved integer;
  gone integer := 0;
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
    GET DIAGNOSTICS gone = ROW_COUNT;
  END IF;
  RETURN moved + gone;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)


def downgrade() -> None:
    """Revision 0008's function again (its file's own text)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    previous = runpy.run_path(str(Path(__file__).with_name("0008_login_function.py")))
    op.execute(previous["_FUNCTION"])
