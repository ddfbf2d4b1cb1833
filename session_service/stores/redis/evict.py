"""``SESSION_MAX_PER_USER`` on Redis (see :mod:`.._per_user`): the rule in Lua, run inside
the script of the write that binds the user (``WRITE``, ``ROTATE``) or, after a ``patch``,
as a script of its own (:data:`EVICT_EXTRA`), so the check and the deletes are atomic against
every other write. It orders sessions as ``least_recently_used`` does: the later of updated
and last_seen, then created, then id, most recent first; never the session logging in."""

from __future__ import annotations

#: Lua, first in every script: tell every process's read cache (``SESSION_CACHE=local``,
#: :mod:`session_service.cache.redis`) which sessions a script ended, in the same atomic
#: step: their ids space-separated, or ``*`` for more than 100, on the channel ``P revoked``.
#: Here because the evictions are its first user; it reads the prefix from ``ARGV[1]``.
REVOKED_FUNCTION = r"""
local function revoked(ids)
  if #ids > 100 then ids = {'*'} end
  if #ids > 0 then redis.call('PUBLISH', ARGV[1] .. 'revoked', table.concat(ids, ' ')) end
end
"""

#: Lua: delete the least recently used live sessions of (``ttag``, ``utag``) but ``keep``
#: beyond ``limit`` (a number; 0: none); returns how many. Appended to the scripts' prelude.
EVICT_FUNCTION = r"""
local function evict_extra(keep, ttag, utag, limit)
  if limit <= 0 or utag == '' then return 0 end
  local u = P .. 'u:' .. ttag .. ':' .. utag
  -- Under the limit (counting index entries, a superset of the live sessions): done.
  if redis.call('ZCOUNT', u, '(' .. NOW, '+inf') <= limit then return 0 end
  if redis.call('EXISTS', P .. 's:' .. keep) == 0 then return 0 end
  local others, n = {}, 1
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', u, '(' .. NOW, '+inf')) do
    if id ~= keep then
      local v = redis.call('GET', P .. 's:' .. id)
      if v then
        local vexp, created, updated, vt, vu, _, dev = parse(v)
        if vt == ttag and vu == utag and tonumber(vexp) > NOW_US then
          others[#others + 1] = {used_at(updated, dev), tonumber(created), id}
          n = n + 1
        end
      end
    end
  end
  if n <= limit then return 0 end
  by_use(others)
  local gone = {}
  for i = limit, #others do
    local id = others[i][3]
    redis.call('DEL', P .. 's:' .. id)
    index_remove(id, ttag, utag)
    gone[#gone + 1] = id
  end
  revoked(gone)
  return #gone
end
"""

# KEYS[1] the key of the session logging in; ARGV[5] its id, ARGV[6] the limit. Nothing when
# the session is gone or has no user.
EVICT_BODY = r"""
local kv = redis.call('GET', KEYS[1])
if not kv then return 0 end
local kexp, _, _, ttag, utag = parse(kv)
if tonumber(kexp) <= NOW_US then return 0 end
has_index(ttag, utag, false)
has_evictable(ARGV[5], ttag, utag, tonumber(ARGV[6]))
local more = again()
if more then return more end
return evict_extra(ARGV[5], ttag, utag, tonumber(ARGV[6]))
"""
