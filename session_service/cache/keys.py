"""The one translation from a session id (what a cookie carries) to the key a revocation
names (what the push channel carries: a row's ``id``, a Redis key's suffix).

Both sides of the cache go through :func:`revocation_key`: the entries are filed under it and
every invalidation names it. Stores file a session under
:func:`session_service.storable.at_rest_id` of its id (its hash), so that is what this returns.
"""

from __future__ import annotations

from functools import lru_cache

from ..storable import at_rest_id

#: What a revocation names when it cannot list its sessions (a large delete, ``TRUNCATE``,
#: a clear of every session): every entry of every process goes.
EVERYTHING = "*"


@lru_cache(maxsize=1024)
def revocation_key(session_id: str) -> str:
    """The key under which the store files ``session_id``, as its revocations name it.

    Remembered for the last ids asked about: a request asks twice (its read, then its write),
    and a hash costs more than a lookup. The ids held are no more than the entries hold
    already (each names its session's id), and a revocation names keys, never ids."""
    return at_rest_id(session_id)
