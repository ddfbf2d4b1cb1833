"""The one translation from a session id (what a cookie carries) to the key a revocation
names (what the push channel carries: a row's ``id``, a Redis key's suffix).

Both sides of the cache go through :func:`revocation_key`: the entries are filed under it and
every invalidation names it. Stores file a session under
:func:`session_service.storable.at_rest_id` of its id (its hash), so that is what this returns.
"""

from __future__ import annotations

from ..storable import hot_at_rest_id

#: What a revocation names when it cannot list its sessions (a large delete, ``TRUNCATE``,
#: a clear of every session): every entry of every process goes.
EVERYTHING = "*"


#: The key under which the store files a session id, as its revocations name it: the
#: stores' own remembered hash (a request asks twice, its read then its write, and the
#: store's lookups ask the same memory), so the cache adds no hash of its own.
revocation_key = hot_at_rest_id
