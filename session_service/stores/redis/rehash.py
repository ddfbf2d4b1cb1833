"""``session-service migrate`` on Redis: every session key of the previous layout (``P s:<id>``,
the id itself) renamed to ``P s:<at_rest_id(id)>``, and its entries in the tenant and user
indexes with it.

``SCAN`` finds the keys in batches; each is moved by one script (:data:`REKEY`), so a
concurrent request sees the session under one name or the other, never under neither, and
never in an index under the wrong one. A key that already has the hash's shape
(:func:`~session_service.storable.is_at_rest_id`) is skipped, so the command can be run again
or resumed after an interruption; once a whole pass is done, a marker key (with a TTL, like
every key) lets later runs (``migrate`` at each start) skip the scan.

The store looks sessions up by the hash only, so ``migrate`` runs with the new version
before it serves (docs/operations.md): a key not moved yet reads as missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from ...storable import at_rest_id, is_at_rest_id
from ..protocol import ProgressCallback
from .pool import run_script
from .scripts import DECLARE_FUNCTIONS, Script

#: The marker of a finished pass; it outlives any session that could predate it.
DONE_KEY = "ids:hashed"
DONE_TTL_SECONDS = 400 * 24 * 3600

# KEYS[1] old session key, KEYS[2] new one; ARGV[1] prefix, ARGV[2] old id, ARGV[3] new id.
# The value's fields 5 and 6 are the tenant and user tags (versions 1 and 2 alike).
REKEY = Script(
    "rekey",
    r"""
local P, old, new = ARGV[1], ARGV[2], ARGV[3]
local DECL = {}
for i = 1, #KEYS do DECL[KEYS[i]] = true end
"""
    + DECLARE_FUNCTIONS
    + r"""
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local f, pos = {}, 1
for i = 1, 6 do
  local nul = string.find(v, "\0", pos, true)
  f[i] = string.sub(v, pos, nul - 1)
  pos = nul + 1
end
local ttag, utag = f[5], f[6]
has(P .. 't:' .. ttag)
if utag ~= '' then has(P .. 'u:' .. ttag .. ':' .. utag) end
local more = again()
if more then return more end
redis.call('RENAME', KEYS[1], KEYS[2])
local function move(index)
  local score = redis.call('ZSCORE', index, old)
  if score then  -- added before the old one goes: the index never empties, keeps its TTL
    redis.call('ZADD', index, score, new)
    redis.call('ZREM', index, old)
  end
end
move(P .. 't:' .. ttag)
if utag ~= '' then move(P .. 'u:' .. ttag .. ':' .. utag) end
return 1
""",
)


async def rehash_keys(
    client: Any,
    prefix: str,
    scan: Callable[[str], AsyncIterator[str]],
    on_progress: ProgressCallback | None,
) -> int:
    """Move every old-layout session key under ``prefix`` (found by the store's ``scan``)
    to its hashed name; returns how many."""
    pool = client.connection_pool
    if await client.exists(prefix + DONE_KEY):
        return 0
    sessions = prefix + "s:"
    moved = 0
    async for stored in scan("s:"):
        sid = stored[len(sessions) :]
        if is_at_rest_id(sid):
            continue
        key = at_rest_id(sid)
        keys = (sessions + sid, sessions + key)
        moved += int(await run_script(pool, REKEY.sha, REKEY.source, keys, (prefix, sid, key)))
        if on_progress is not None and moved and moved % 1000 == 0:
            on_progress(moved)
    await client.set(prefix + DONE_KEY, b"1", ex=DONE_TTL_SECONDS)
    if on_progress is not None and moved:
        on_progress(moved)
    return moved
