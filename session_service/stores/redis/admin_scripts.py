"""The scripts of the admin operations by user and by tenant on a single node (the key layout
and the prelude are :mod:`.scripts`'): each declares what it starts from and asks for the
keys it finds (a user's tenants, their indexes' sessions, those sessions' owners)."""

from __future__ import annotations

from .scripts import _script

# The user's tenants, and every key of the user's sessions declared (each tenant's indexes,
# each indexed session; the user's tenants index too, which CLEAR_USER changes) before the
# script reads or changes one. ``keep``: a session id to declare too ('' none), set first.
_OWNER_TENANTS = r"""
local utag = ARGV[5]
local tenants
if not has(P .. 'ut:' .. utag) and ARGV[6] == '' then return again() end
if ARGV[6] == '' then
  tenants = redis.call('ZRANGE', P .. 'ut:' .. utag, 0, -1)
else
  tenants = {ARGV[6]}
end
if keep ~= '' then has(P .. 's:' .. keep) end
for _, ttag in ipairs(tenants) do
  has(P .. 't:' .. ttag)
  local u = P .. 'u:' .. ttag .. ':' .. utag
  if has(u) then
    for _, id in ipairs(redis.call('ZRANGE', u, 0, -1)) do has(P .. 's:' .. id) end
  end
end
local more = again()
if more then return more end
"""

# ARGV[5] user tag, ARGV[6] tenant tag ('' = every tenant), ARGV[7] the id of a session to
# keep ('' none). Deletes the user's sessions, counting expired index entries too (as SQL
# counts expired rows); an id reused since by another owner is left alone. With a session to
# keep, nothing at all unless it is still a live session of that user (so of two devices
# signing each other out at once, exactly one stays signed in).
CLEAR_USER = _script(
    "clear_user",
    "local keep = ARGV[7]\n"
    + _OWNER_TENANTS
    + r"""
if keep ~= '' then
  local kv = redis.call('GET', P .. 's:' .. keep)
  if not kv then return 0 end
  local kexp, _, _, kt, ku = parse(kv)
  if tonumber(kexp) <= NOW_US or ku ~= utag or (ARGV[6] ~= '' and kt ~= ARGV[6]) then
    return 0
  end
end
local n, gone = 0, {}
for _, ttag in ipairs(tenants) do
  local u = P .. 'u:' .. ttag .. ':' .. utag
  for _, id in ipairs(redis.call('ZRANGE', u, 0, -1)) do
    if id ~= keep then
      local key = P .. 's:' .. id
      local v = redis.call('GET', key)
      local mine = true
      if v then
        local _, _, _, vt, vu = parse(v)
        mine = (vt == ttag and vu == utag)
        if mine and redis.call('DEL', key) == 1 then gone[#gone + 1] = id end
      end
      if mine then
        redis.call('ZREM', P .. 't:' .. ttag, id)
        n = n + 1
      end
      redis.call('ZREM', u, id)
    end
  end
  if redis.call('EXISTS', u) == 0 then redis.call('ZREM', P .. 'ut:' .. utag, ttag) end
end
if redis.call('ZCARD', P .. 'ut:' .. utag) == 0 then redis.call('DEL', P .. 'ut:' .. utag) end
revoked(gone); return n
""",
)

# ARGV[5] user tag, ARGV[6] tenant tag ('' = every tenant), ARGV[7] a handle. Deletes the one
# live session of that user with that handle; 1, or 0 when the user has none (an expired one,
# by the app's clock, is none).
REVOKE = _script(
    "revoke",
    "local keep = ''\n"
    + _OWNER_TENANTS
    + r"""
for _, ttag in ipairs(tenants) do
  local u = P .. 'u:' .. ttag .. ':' .. utag
  for _, id in ipairs(redis.call('ZRANGE', u, 0, -1)) do
    local key = P .. 's:' .. id
    local v = redis.call('GET', key)
    if v then
      local vexp, _, _, vt, vu, _, dev = parse(v)
      if vt == ttag and vu == utag and dev[4] == ARGV[7] and tonumber(vexp) > NOW_US then
        redis.call('DEL', key)
        index_remove(id, vt, vu); revoked({id})
        return 1
      end
    end
  end
end
return 0
""",
)

#: Lua, the step of listing a user's sessions on either layout (this OWNED and the cluster's,
#: which walk their own indexes): the id and value of a session still stored at ``key``,
#: appended to ``out`` (the caller checks expiry and owner again).
OWNED_FUNCTION = r"""
local function owned(out, id, key)
  local v = redis.call('GET', key)
  if v then
    out[#out + 1] = id
    out[#out + 1] = v
  end
end
"""

# ARGV[5] user tag, ARGV[6] tenant tag ('' = every tenant): id, value pairs of the live
# sessions the user owns.
OWNED = _script(
    "owned",
    "local keep = ''\n"
    + _OWNER_TENANTS
    + OWNED_FUNCTION
    + r"""
local out = {}
for _, ttag in ipairs(tenants) do
  local u = P .. 'u:' .. ttag .. ':' .. utag
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', u, '(' .. NOW, '+inf')) do
    owned(out, id, P .. 's:' .. id)
  end
end
return out
""",
)

# For the batch scripts: whether the sessions of ``ids`` and their users' indexes (of the
# stored owner: a superset of those the batch changes) are declared.
_HAS_SESSIONS = r"""
local function has_sessions(ids)
  for _, id in ipairs(ids) do
    local key = P .. 's:' .. id
    if has(key) then
      local v = redis.call('GET', key)
      if v then
        local _, _, _, vt, vu = parse(v)
        if vu ~= '' then has(P .. 'u:' .. vt .. ':' .. vu) end
      end
    end
  end
end
"""

# KEYS[1] a tenant index; ARGV[5] its tenant tag, ARGV[6] batch size. Deletes up to a batch of
# the tenant's sessions; returns {deleted, ids taken from the index}.
CLEAR_TENANT_BATCH = _script(
    "clear_tenant_batch",
    _HAS_SESSIONS
    + r"""
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[6]) - 1)
has_sessions(ids)
local more = again()
if more then return more end
local n, gone = 0, {}
for _, id in ipairs(ids) do
  local key = P .. 's:' .. id
  local v = redis.call('GET', key)
  if v then
    local _, _, _, vt, vu = parse(v)
    if vt == ARGV[5] then
      redis.call('DEL', key); gone[#gone + 1] = id
      if vu ~= '' then redis.call('ZREM', P .. 'u:' .. vt .. ':' .. vu, id) end
      n = n + 1
    end
  else
    n = n + 1
  end
  redis.call('ZREM', KEYS[1], id)
end
revoked(gone)
return {n, #ids}
""",
)

# KEYS[1] a tenant index; ARGV[5] batch size. Removes up to a batch of expired entries (and
# their keys, should the app's clock be ahead of Redis's); returns how many.
PRUNE_BATCH = _script(
    "prune_batch",
    _HAS_SESSIONS
    + r"""
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[5]))
has_sessions(ids)
local more = again()
if more then return more end
for _, id in ipairs(ids) do
  local key = P .. 's:' .. id
  local v = redis.call('GET', key)
  if v then
    local exp, _, _, vt, vu = parse(v)
    if tonumber(exp) <= NOW_US then
      redis.call('DEL', key)
      if vu ~= '' then redis.call('ZREM', P .. 'u:' .. vt .. ':' .. vu, id) end
    end
  end
  redis.call('ZREM', KEYS[1], id)
end
return #ids
""",
)
