"""``patch``'s statements: merge a request's changed keys into the stored JSON in one statement.

The merge happens in the database, on the row as it is when the ``UPDATE`` takes its lock, so
two overlapping requests that change different keys both keep their writes, and (as for every
hot write) a row deleted or expired meanwhile is not brought back (``WHERE id = … AND
expiry_date > now``). ``user_id`` is set in the same statement when the request changed it, and
the expiry only when it is due to move: otherwise no indexed column is written, as in the
data-only ``update``.

Each database spells the merge in its own module (:mod:`.postgres.patch`,
:mod:`.sqlite.patch`). Everything the one statement cannot do takes the database's
``READ_SQL`` then :func:`compare_sql`
(read the row, merge in Python, write it back only if the stored data is still what was
read, else read again): SQLite keys that need escaping, more keys than one SQLite function
call takes, a stored value that is not a JSON
object (a row this library did not write reads as empty, as ``load`` does), and a merged
session that may be over ``SESSION_MAX_BYTES``. The statement's own size guard is cheap and
conservative (on SQLite the stored size plus an upper bound of the growth, on PostgreSQL the
size of jsonb's own rendering, with a space after every ``:`` and ``,`` and numbers written
out in full, so not shorter than the compact JSON), so the compare-and-set path measures
exactly, with the encoder every whole write uses.
"""

from __future__ import annotations

from .schema import sessions_table as T


def compare_sql(same: str, expiry: bool) -> str:
    """Write the merged data (``$2``), owner (``$3``) and, if moving, the expiry (``$6``) only
    while the row is live and still holds the data that was read (``$5``, compared by the
    database's ``same`` condition)."""
    move = ", expiry_date = $6" if expiry else ""
    return (
        f"UPDATE {T.name} SET data = $2, user_id = $3, updated_at = $4{move} "
        f"WHERE id = $1 AND expiry_date > $4 AND {same}"
    )
