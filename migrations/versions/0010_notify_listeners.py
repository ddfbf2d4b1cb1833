"""PostgreSQL: revision 0006's triggers notify only while a read cache listens.

A ``NOTIFY`` takes one lock for the whole server at commit and keeps it until the commit is
flushed, so every transaction that notifies commits after the one before it, one flush each:
measured in benchmarks/ANALYSIS.md (issue 21, PostgreSQL), the triggers' notifications
tripled the server CPU of a login under concurrency and capped its throughput, whether or
not any process listened. With this revision each cache's listening connection registers in
``session_service_listeners`` (session_service/cache/postgres.py), and the three trigger
functions send nothing while no registration is there.

No revocation is lost to a cache that is starting: a trigger that finds nobody registered
holds a shared transaction-scoped advisory lock (:data:`LISTENERS_LOCK`) from before it
looked until its transaction ends, and a cache, once its registration is committed, takes
that lock exclusively once (waiting for every such transaction to end) before it serves a
hit. A transaction that looked before the registration is then over, and what it deleted is
gone from the database before the cache reads it. A registration with an ``until`` counts
until then. An upgrade of a database in use leaves one, server process 0, that never ends
(``until`` is ``infinity``): the caches of code older than this revision never register, so
without it they would stop hearing revocations (a sign-out everywhere, served from their
caches until they are redeployed) whichever came first, the deploy or ``migrate``. Once every
instance runs this release, ``session-service caches-upgraded`` (session_service/cli/grace.py)
removes it and the triggers notify only while a cache listens; a fresh database gets none.

Replacing functions and creating a table take no lock on ``sessions``: this upgrades a live
database. SQLite has no cache: this revision does nothing there.

Revision ID: 0010_notify_listeners
Revises: 0009_login_signed_out
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0010_notify_listeners"
down_revision: str | None = "0009_login_signed_out"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The two keys of the advisory lock between a silent trigger and a registering cache
#: (``LISTENERS_LOCK`` in session_service/cache/postgres.py, which takes it; the first key
#: follows the lock keys of session_service/stores/sql/postgres/engine.py).
LISTENERS_LOCK = (0x5E55_0004, 0)
#: Until when an upgrade of a database in use keeps notifying with nobody registered: until
#: ``session-service caches-upgraded`` removes the row (nothing time-based may end it).
_GRACE = "infinity"
_LISTED = 100  # as revision 0006

#: Whether anyone listens: called by the three trigger functions just before they notify.
_LISTENING = f"""
CREATE OR REPLACE FUNCTION session_service_listening() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared({LISTENERS_LOCK[0]}, {LISTENERS_LOCK[1]});
  PERFORM 1 FROM session_service_listeners WHERE until IS NULL OR until > now() LIMIT 1;
  RETURN FOUND;
END $$
"""


def _functions(guard: str) -> list[str]:
    """Revision 0006's trigger functions, each notifying only when ``guard`` holds."""
    return [
        f"""
CREATE OR REPLACE FUNCTION session_service_notify_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
BEGIN
  IF NOT ({guard}) THEN
    RETURN NULL;
  END IF;
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
END $$""",
        f"""
CREATE OR REPLACE FUNCTION session_service_notify_all() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF {guard} THEN
    PERFORM pg_notify('session_service_revoked', '*');
  END IF;
  RETURN NULL;
END $$""",
        f"""
CREATE OR REPLACE FUNCTION session_service_notify_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF {guard} THEN
    PERFORM pg_notify('session_service_revoked', OLD.id);
  END IF;
  RETURN NULL;
END $$""",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE IF NOT EXISTS session_service_listeners ("
        "pid integer PRIMARY KEY, until timestamptz)"
    )
    if context.config.attributes.get("before") is not None:  # a database in use: see above
        op.execute(
            "INSERT INTO session_service_listeners (pid, until) "
            f"VALUES (0, '{_GRACE}') "
            "ON CONFLICT (pid) DO UPDATE SET until = excluded.until"
        )
    op.execute(_LISTENING)
    for statement in _functions("session_service_listening()"):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _functions("true"):  # revision 0006's, notifying always
        op.execute(statement)
    op.execute("DROP FUNCTION IF EXISTS session_service_listening()")
    op.execute("DROP TABLE IF EXISTS session_service_listeners")
