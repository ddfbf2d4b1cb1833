"""The one translation from a session id (what a cookie carries) to the key a revocation
names (what the push channel carries: a row's ``id``, a Redis key's suffix).

Both sides of the cache go through :func:`revocation_key`: the entries are filed under it and
every invalidation names it. Stores file a session under its id today; once they file it under
:func:`session_service.storable.at_rest_id` (its hash), this function returns that, and
nothing else in the cache changes.
"""

from __future__ import annotations

#: What a revocation names when it cannot list its sessions (a large delete, ``TRUNCATE``,
#: a clear of every session): every entry of every process goes.
EVERYTHING = "*"


def revocation_key(session_id: str) -> str:
    """The key under which the store files ``session_id``, as its revocations name it."""
    return session_id
