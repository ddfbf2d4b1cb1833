"""The per-request statements, one text for both databases (``$n`` parameters; SQLite's driver
spells them ``?n``). Nothing is cached but connections, so a row deleted by another process is
gone for the very next statement.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .schema import sessions_table as T

LOAD_SQL = (
    f"SELECT data, expiry_date, user_id, tenant_id, last_seen, created_at, handle "
    f"FROM {T.name} "
    "WHERE id = $1 AND expiry_date > $2"
)
INSERT_SQL = (
    f"INSERT INTO {T.name} (id, data, expiry_date, user_id, tenant_id, created_at, updated_at, "
    "ip, user_agent, last_seen, handle) "
    "VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10) ON CONFLICT (id) DO "
)
CREATE_SQL = INSERT_SQL + "NOTHING"
#: An upsert keeps the device columns of an existing row (they describe where it was created);
#: a NULL ``last_seen`` leaves the stored one.
SAVE_SQL = INSERT_SQL + (
    "UPDATE SET data = excluded.data, expiry_date = excluded.expiry_date, "
    "user_id = excluded.user_id, tenant_id = excluded.tenant_id, updated_at = excluded.updated_at, "
    f"last_seen = COALESCE(excluded.last_seen, {T.name}.last_seen), "
    f"handle = COALESCE({T.name}.handle, excluded.handle)"
)
# In the updates below, a NULL ``last_seen`` parameter leaves the column as it is: the
# middleware sets it at most once per SESSION_LAST_SEEN_SECONDS, folded into a write it does
# anyway when it can.
UPDATE_SQL = (
    f"UPDATE {T.name} SET data = $2, expiry_date = $3, user_id = $4, updated_at = $5, "
    "last_seen = COALESCE($6, last_seen) WHERE id = $1 AND expiry_date > $5"
)
#: ``update`` when the expiry is not due to move and the owner is unchanged: no index entry
#: changes (SQLite rewrites an index even for an unchanged value; PostgreSQL can then do a HOT
#: update), about half the cost. Guarded on ``user_id``, so the column can never disagree with
#: the data: when the owner changed (or the row is gone) it changes nothing, and the full
#: ``UPDATE_SQL`` runs instead.
UPDATE_DATA_SQL = (
    f"UPDATE {T.name} SET data = $2, updated_at = $4, last_seen = COALESCE($5, last_seen) "
    "WHERE id = $1 AND expiry_date > $4 AND (user_id = $3 OR (user_id IS NULL AND $3 IS NULL))"
)
TOUCH_SQL = (
    f"UPDATE {T.name} SET expiry_date = $2, updated_at = $3, last_seen = COALESCE($4, last_seen) "
    "WHERE id = $1 AND expiry_date > $3"
)
#: A read-only request's ``last_seen``: no expiry, no data, no ``updated_at`` (which is the
#: time of the last write, what the CLI shows as "last active").
SEEN_SQL = f"UPDATE {T.name} SET last_seen = $2 WHERE id = $1 AND expiry_date > $2"
DELETE_SQL = f"DELETE FROM {T.name} WHERE id = $1"
#: ``SESSION_MAX_PER_USER``'s first look, after a login's write: how many live sessions the
#: owner of session $1 has in its tenant (0 when it is gone or has no user). Only above the
#: limit does the store take the owner's lock (see ``SqlAdminOps._evict_extra``).
OWNER_COUNT_SQL = (
    f"SELECT count(*) FROM {T.name} k JOIN {T.name} s ON s.user_id = k.user_id "
    "AND (s.tenant_id = k.tenant_id OR (s.tenant_id IS NULL AND k.tenant_id IS NULL)) "
    "WHERE k.id = $1 AND k.expiry_date > $2 AND s.expiry_date > $2"
)
#: A login's ``rotate``: the live row $1 moves to the id $2 with its new data, expiry, owner and
#: tenant, and a new absolute lifetime from $7 (``created_at``). An ``UPDATE`` of the id, not a
#: delete plus an insert: a concurrent ``clear_sessions_for_user`` waiting on the row re-checks
#: the moved row and deletes it too. The handle survives (it names the session, not the id);
#: with a ``last_seen`` ($9: device tracking on) the device columns become this device's.
#: A row that started ($12, ``created_at``) before the absolute limit allows is over, and stays
#: so. ``last_seen`` comes first so that PostgreSQL types $9 from it.
ROTATE_SQL = (
    f"UPDATE {T.name} SET last_seen = COALESCE($9, last_seen), id = $2, data = $3, "
    "expiry_date = $4, user_id = $5, tenant_id = $6, created_at = $7, updated_at = $7, "
    "handle = COALESCE(handle, $8), ip = CASE WHEN $9 IS NULL THEN ip ELSE $10 END, "
    "user_agent = CASE WHEN $9 IS NULL THEN user_agent ELSE $11 END "
    "WHERE id = $1 AND expiry_date > $7 AND (created_at > $12 OR created_at IS NULL)"
)
#: ``ROTATE_SQL``'s $12 when there is no absolute limit: before any session started.
NO_START_LIMIT = datetime(1, 1, 2, tzinfo=UTC)


#: When a session was last used, as ``_per_user.recency`` reads it: the later of its last
#: write and its last recorded use.
USED_SQL = "CASE WHEN last_seen > updated_at THEN last_seen ELSE updated_at END"
#: ``_per_user.recency``'s order, most recently used first: the sessions a limit keeps.
RECENCY_DESC_SQL = f"{USED_SQL} DESC, created_at DESC, id DESC"


def extra_sessions_sql(excluded: str) -> str:
    """``SESSION_MAX_PER_USER``'s choice, in SQL, with ``ROTATE_SQL``'s parameters (user $5,
    tenant $6, now $7) and the limit as $13: the ids of that user's live sessions in that
    tenant (none: the untenanted ones), ``excluded`` (a SQL condition) aside, but the $13 - 1
    most recently used (the order of ``_per_user.recency``)."""
    return (
        f"SELECT id FROM (SELECT id, row_number() OVER (ORDER BY {RECENCY_DESC_SQL}) AS n "
        f"FROM {T.name} WHERE user_id = $5 AND (tenant_id = $6 OR (tenant_id IS NULL AND "
        f"$6 IS NULL)) AND expiry_date > $7 AND {excluded}) AS ranked WHERE n >= $13"
    )
