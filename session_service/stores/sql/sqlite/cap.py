"""``SESSION_MAX_PER_USER`` inside a SQLite login's own statement (issue 21): a TEMP trigger.

A limited login is then ``ROTATE_SQL`` alone, as an unlimited one: the trigger, on the store's
own connections only (TEMP objects belong to one connection, so two stores on one file with
different limits never see each other's, and a store without the limit has none), signs the
least recently used extra session out inside the move's ``UPDATE``, under the same write lock,
so the move and the sign-out are one atomic step. One index scan finds both the user's other
live sessions' count and the least recently used of them: SQLite's bare-column ``min()``,
over a key whose order is ``_per_user.recency``'s because every stored timestamp has the same
width (``schema._NaiveUtcText``, ``SqliteHotPath.ts``), so no sort and no second statement
(benchmarks/ANALYSIS.md, "SQLite login past ``SESSION_MAX_PER_USER``").

That scan deletes one session. A user over the limit by more than one (the limit lowered, a
process without it) makes the trigger abort the login's statement instead, with
:data:`OVER_BY_MORE`, and the store runs the general sign-out (:data:`TRIM_SQL`, then the
move, in one transaction); that is rare, so the usual login never pays for it.
"""

from __future__ import annotations

from ..schema import sessions_table as T
from ..statements import RECENCY_DESC_SQL, USED_SQL

#: The trigger's name in each connection's ``temp`` schema.
TRIGGER = "session_service_max_per_user"
#: The error text (an ``sqlite3.IntegrityError``) of a login whose user has more than one
#: session too many: nothing was written, the store takes the general path.
OVER_BY_MORE = "session_service: more than one session over SESSION_MAX_PER_USER"

#: ``_per_user.recency``'s order as one text: fixed-width timestamps, then the id.
_RECENCY_KEY = f"({USED_SQL} || created_at || id)"
_OTHERS = (
    "user_id = NEW.user_id AND tenant_id IS NEW.tenant_id AND expiry_date > NEW.updated_at "
    "AND id <> NEW.id"
)

#: Before ``ROTATE_SQL`` (its parameters, the limit as $13), in the same transaction, when the
#: user is over by more than one: all but the $13 - 1 most recently used of the user's other
#: live sessions in the tenant (the moving row $1 and the new id $2 aside), and only if $1 is
#: a row the move will move. The move then finds $13 - 1 others and its trigger deletes none.
TRIM_SQL = (
    f"DELETE FROM {T.name} WHERE id IN (SELECT id FROM {T.name} WHERE user_id = $5 AND "
    f"tenant_id IS $6 AND expiry_date > $7 AND id <> $1 AND id <> $2 ORDER BY {RECENCY_DESC_SQL} "
    f"LIMIT -1 OFFSET $13 - 1) AND EXISTS (SELECT 1 FROM {T.name} WHERE id = $1 AND "
    "expiry_date > $7 AND (created_at > $12 OR created_at IS NULL))"
)


def trigger_setup(limit: int) -> tuple[str, ...]:
    """The statements that give one connection the trigger for ``limit`` (``0``: none).

    ``AFTER UPDATE OF id``: only a login's move (``ROTATE_SQL``) sets the id on the store's
    connections. The body deletes the least recently used other session when the user has
    ``limit`` others (the moved one makes ``limit + 1``), and aborts the statement with
    :data:`OVER_BY_MORE` when it has more."""
    drop = f"DROP TRIGGER IF EXISTS temp.{TRIGGER}"
    if not limit:
        return (drop,)
    n = int(limit)  # an integer written into the SQL: never text from outside
    create = (
        f"CREATE TEMP TRIGGER {TRIGGER} AFTER UPDATE OF id ON main.{T.name} FOR EACH ROW "
        f"WHEN NEW.user_id IS NOT NULL BEGIN DELETE FROM {T.name} WHERE rowid = (SELECT CASE "
        f"WHEN n > {n} THEN RAISE(ABORT, '{OVER_BY_MORE}') ELSE r END FROM (SELECT rowid AS r, "
        f"min({_RECENCY_KEY}), count(*) AS n FROM main.{T.name} WHERE {_OTHERS}) "
        f"WHERE n >= {n}); END"
    )
    return (drop, create)
