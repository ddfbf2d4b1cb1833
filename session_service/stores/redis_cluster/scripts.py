"""The Redis Cluster key layout and its Lua scripts (docs/stores.md, "Redis Cluster", says why
this layout).

Keys, under the store's prefix ``P`` (no ``{`` or ``}`` in it), each part escaped by
:func:`kesc` (``%`` ``:`` ``{`` ``}`` as ``%25`` ``%3A`` ``%7B`` ``%7D``), so a hash tag is
always the text between the key's first braces:

* ``P{#<bucket>}i:<id>``: the **id key**, in one of 4096 buckets chosen by the id's CRC-32
  (:func:`bucket`), so it is found from the id alone. For an anonymous session it holds
  the session's value (as ``P s:<id>`` does on one node: :mod:`..redis.scripts`); for a
  signed-in one a pointer, ``>`` and the user's tag, naming where the value is. It expires
  with the session.
* ``P{#<bucket>}a``: the bucket's sessions, a sorted set of ids scored by expiry: what
  statistics, cleanup and ``create`` (an expired id not yet cleaned is taken, as in SQL)
  go by once Redis has dropped an expired session's keys;
* ``P{<user>}s:<id>``: a signed-in session's value, in its **user's slot**;
* ``P{<user>}u:<tenant>``: the user's sessions in one tenant, a sorted set scored by expiry;
* ``P{<user>}ut``: the tenants the user has sessions in, scored by their latest expiry.

Everything one user's atomic operations touch (create, rotate, clear-by-user, revoke by
handle, sign out other devices, ``SESSION_MAX_PER_USER``) lies in the user's slot, so each is
one script on one primary. There is no tenant index (it would gather every user of a tenant
in one slot): work by tenant visits every primary, as clear-all, statistics and cleanup do.

A script's first key (``KEYS[1]``) names its slot; the other keys it touches are in that slot
by construction (a user's keys all carry the user's tag), which Redis Cluster runs. Declaring
each of them in ``KEYS`` as well, as strict engines want, is left for later (docs/stores.md).
"""

from __future__ import annotations

from ..redis.delta import PATCH as _SINGLE_PATCH
from .prelude import _script, bucket, kesc

__all__ = ["bucket", "kesc"]  # the key parts, for the store

# KEYS[1] where the session goes (its id key, or its key in its user's slot); ARGV[5..] mode,
# id, exp_us, exp_ms, tenant tag, user tag, data, extend, ip, user agent, last_seen_us,
# handle, SESSION_MAX_PER_USER, carried: the value of a session moved here from another slot
# ('' none; taken there by TAKE), and the pointer the id key must hold for it to be replaced.
# Returns {0} nothing written, {1, exp_ms} written, {2, the
# user tag} when the id key points to a user's slot (the session must be moved from there).
# The modes are those of the single-node WRITE.
WRITE = _script(
    "write",
    r"""
local mode, id, exp_us, exp_ms = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local ttag, utag, data, carried = ARGV[9], ARGV[10], ARGV[11], ARGV[18]
local created = ARGV[4]
local dev = {ARGV[13], ARGV[14], ARGV[15], ARGV[16]}
local old = redis.call('GET', KEYS[1])
local moved = false
if old and string.sub(old, 1, 1) == '>' then
  if carried == '' or old ~= ARGV[19] then
    if mode == 'create' then return {0} end
    return {2, string.sub(old, 2)}
  end
  old, moved = carried, true
elseif not old and carried ~= '' then
  if utag == '' then return {0} end  -- the id key went: deleted meanwhile
  old, moved = carried, true
end
if mode == 'create' and (old or (utag == '' and redis.call('ZSCORE', akey(), id))) then
  return {0}  -- taken, by a live session or an expired one not yet cleaned (as in SQL)
end
if old then
  local oexp, ocreated, _, ottag, outag, _, odev = parse(old)
  if dev[3] == '' then dev[3] = odev[3] end
  dev = {odev[1], odev[2], dev[3], (odev[4] ~= '' and odev[4]) or dev[4]}
  if mode == 'update' then
    if tonumber(oexp) <= NOW_US then return {0} end
    ttag = ottag
    if ARGV[12] == '0' then
      exp_us = oexp
      exp_ms = string.format('%d', math.ceil(tonumber(oexp) / 1000))
    end
  end
  created = ocreated
  if not moved and ottag ~= ttag then index_remove(id, ottag, outag) end
elseif mode == 'update' then
  return {0}
end
put(KEYS[1], id, exp_us, exp_ms, created, ttag, utag, data, dev)
evict_extra(id, ttag, utag, tonumber(ARGV[17]))
return {1, exp_ms}
""",
)

# KEYS[1] a session's key; ARGV[5] id, ARGV[6] what to leave at the key ('' delete it, else
# the pointer to write, its TTL kept). Takes the live session from there (with its index
# entry) and returns its value, or false when there is none.
TAKE = _script(
    "take",
    r"""
local v = getv(KEYS[1])
if not v then return false end
local exp, _, _, ttag, utag = parse(v)
if ARGV[6] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[6], 'KEEPTTL')
end
index_remove(ARGV[5], ttag, utag)
if tonumber(exp) <= NOW_US then return false end
return v
""",
)

# KEYS[1] an id key; ARGV[5] the pointer it must hold, ARGV[6] the expiry (ms) it (and the
# id's bucket entry) gets then, ARGV[7] the id.
# 1, or 0 when it holds something else (the session was moved or deleted meanwhile).
POINT = _script(
    "point",
    r"""
if redis.call('GET', KEYS[1]) ~= ARGV[5] then return 0 end
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
redis.call('ZADD', akey(), ARGV[6], ARGV[7])
keep(akey())
return 1
""",
)

# KEYS[1] a free id key; ARGV[5] the pointer to write, ARGV[6] its expiry (ms), ARGV[7] the
# id, ARGV[8] '1' for a new session. 0 when the id is taken (by a live session, or for a new
# one also by an expired one its bucket still names).
CLAIM = _script(
    "claim",
    r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[8] == '1' and redis.call('ZSCORE', akey(), ARGV[7]) then return 0 end
redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[6])
redis.call('ZADD', akey(), ARGV[6], ARGV[7])
keep(akey())
return 1
""",
)

# KEYS[1] an id key; ARGV[5] the pointer it must hold, ARGV[6] the one it gets (its TTL
# kept). 1, or 0 when it held something else.
REPOINT = _script(
    "repoint",
    r"""
if redis.call('GET', KEYS[1]) ~= ARGV[5] then return 0 end
redis.call('SET', KEYS[1], ARGV[6], 'KEEPTTL')
return 1
""",
)

# KEYS[1] an id key; ARGV[5] the pointer it is expected to hold ('' for a session value),
# ARGV[6] the session id.
# Deletes it unless it holds another pointer, which it returns; 1 deleted, 0 nothing there.
DROP_ID = _script(
    "drop_id",
    r"""
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('ZREM', akey(), ARGV[6])  -- expired: its bucket entry alone is left
  return 0
end
if string.sub(v, 1, 1) == '>' and v ~= ARGV[5] then return v end
redis.call('ZREM', akey(), ARGV[6])
redis.call('DEL', KEYS[1])
return 1
""",
)

# KEYS[1] the new key, KEYS[2] the old key when in the same slot (else carried); ARGV[5..]
# old id, new id, exp_us, exp_ms, tenant tag, user tag, data, ip, user agent, last_seen_us,
# handle, SESSION_MAX_PER_USER, carried (the old session's value, taken from its own slot).
# 1 moved, 0 old session gone, -1 new id taken. The device rules of the single-node ROTATE.
ROTATE = _script(
    "rotate",
    r"""
local old
if KEYS[2] then
  old = getv(KEYS[2])
  if not old then return 0 end
else
  old = ARGV[17]
end
local oexp, _, _, ottag, outag, _, odev = parse(old)
if tonumber(oexp) <= NOW_US then return 0 end
local there = redis.call('GET', KEYS[1])
if there and there ~= '>' then return -1 end  -- '>': the id key, claimed by this rotate
local dev = odev
if ARGV[14] ~= '' then dev = {ARGV[12], ARGV[13], ARGV[14], odev[4]} end
if dev[4] == '' then dev[4] = ARGV[15] end
if KEYS[2] then
  redis.call('DEL', KEYS[2])
  index_remove(ARGV[5], ottag, outag)
end
put(KEYS[1], ARGV[6], ARGV[7], ARGV[8], ARGV[4], ARGV[9], ARGV[10], ARGV[11], dev)
evict_extra(ARGV[6], ARGV[9], ARGV[10], tonumber(ARGV[16]))
return 1
""",
)

# Bodies of the single-node TOUCH, DEVICE and PATCH run as they are, on the cluster prelude
# (their session key is KEYS[1]; getv refuses the id key's pointer).
_PATCH_BODY = _SINGLE_PATCH.source.split("\nlocal function str_end", 1)[1]
PATCH = _script(
    "patch",
    "\nlocal function str_end" + _PATCH_BODY.replace("redis.call('GET', KEYS[1])", "getv(KEYS[1])"),
)

# KEYS[1] session key; ARGV[5..] id, exp_us, exp_ms, last_seen_us ('' keeps it).
TOUCH = _script(
    "touch",
    r"""
local old = getv(KEYS[1])
if not old then return 0 end
local oexp, created, _, ttag, utag, data, dev = parse(old)
if tonumber(oexp) <= NOW_US then return 0 end
if ARGV[8] ~= '' then dev[3] = ARGV[8] end
put(KEYS[1], ARGV[5], ARGV[6], ARGV[7], created, ttag, utag, data, dev)
return 1
""",
)

# KEYS[1] session key; ARGV[5] last_seen_us ('' keeps it), ARGV[6] a handle for a session
# that has none. Returns its handle, or false when it is gone.
DEVICE = _script(
    "device",
    r"""
local old = getv(KEYS[1])
if not old then return false end
local oexp, created, updated, ttag, utag, data, dev = parse(old)
if tonumber(oexp) <= NOW_US then return false end
if ARGV[5] ~= '' then dev[3] = ARGV[5] end
if dev[4] == '' then dev[4] = ARGV[6] end
local v = table.concat(
  {'2', oexp, created, updated, ttag, utag, dev[1], dev[2], dev[3], dev[4], data}, '\0')
redis.call('SET', KEYS[1], v, 'KEEPTTL')
return dev[4]
""",
)

# KEYS[1] the session's key in its user's slot; ARGV[5] id, ARGV[6] the limit.
EVICT_EXTRA = _script(
    "evict_extra",
    r"""
local kv = getv(KEYS[1])
if not kv then return 0 end
local kexp, _, _, ttag, utag = parse(kv)
if tonumber(kexp) <= NOW_US then return 0 end
return evict_extra(ARGV[5], ttag, utag, tonumber(ARGV[6]))
""",
)

_OWNER_TENANTS = r"""
local utag = ARGV[5]
local tenants
if ARGV[6] == '' then
  tenants = redis.call('ZRANGE', KEYS[1], 0, -1)
else
  tenants = {ARGV[6]}
end
"""

# KEYS[1] the user's ``ut`` key; ARGV[5] user tag, ARGV[6] tenant tag ('' every tenant),
# ARGV[7] the id of a session to keep. The single-node CLEAR_USER's rules; returns
# {count, the ids deleted} (the caller drops their id keys' pointers).
CLEAR_USER = _script(
    "clear_user",
    _OWNER_TENANTS
    + r"""
local keep_id = ARGV[7]
if keep_id ~= '' then
  local kv = redis.call('GET', skey(utag, keep_id))
  if not kv then return {0, {}} end
  local kexp, _, _, kt, ku = parse(kv)
  if tonumber(kexp) <= NOW_US or ku ~= utag or (ARGV[6] ~= '' and kt ~= ARGV[6]) then
    return {0, {}}
  end
end
local n, gone = 0, {}
for _, ttag in ipairs(tenants) do
  local u = ubase(utag) .. 'u:' .. ttag
  for _, id in ipairs(redis.call('ZRANGE', u, 0, -1)) do
    if id ~= keep_id then
      local key = skey(utag, id)
      local v = redis.call('GET', key)
      local mine = true
      if v then
        local _, _, _, vt = parse(v)
        mine = (vt == ttag)
        if mine then redis.call('DEL', key) end
      end
      if mine then
        n = n + 1
        gone[#gone + 1] = id
      end
      redis.call('ZREM', u, id)
    end
  end
  if redis.call('EXISTS', u) == 0 then redis.call('ZREM', KEYS[1], ttag) end
end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return {n, gone}
""",
)

# KEYS[1] the user's ``ut`` key; ARGV[5] user tag, ARGV[6] tenant tag, ARGV[7] a handle.
# Returns the id of the live session deleted, or false.
REVOKE = _script(
    "revoke",
    _OWNER_TENANTS
    + r"""
for _, ttag in ipairs(tenants) do
  local u = ubase(utag) .. 'u:' .. ttag
  for _, id in ipairs(redis.call('ZRANGE', u, 0, -1)) do
    local key = skey(utag, id)
    local v = redis.call('GET', key)
    if v then
      local vexp, _, _, vt, vu, _, dev = parse(v)
      if vt == ttag and dev[4] == ARGV[7] and tonumber(vexp) > NOW_US then
        redis.call('DEL', key)
        index_remove(id, vt, vu)
        return id
      end
    end
  end
end
return false
""",
)

# KEYS[1] the user's ``ut`` key; ARGV[5] user tag, ARGV[6] tenant tag: id, value pairs of
# the user's live sessions.
OWNED = _script(
    "owned",
    _OWNER_TENANTS
    + r"""
local out = {}
for _, ttag in ipairs(tenants) do
  local u = ubase(utag) .. 'u:' .. ttag
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', u, '(' .. NOW, '+inf')) do
    local v = redis.call('GET', skey(utag, id))
    if v then
      out[#out + 1] = id
      out[#out + 1] = v
    end
  end
end
return out
""",
)

# KEYS[1] a user's index in one tenant, or a bucket's of anonymous sessions; ARGV[5] batch
# size, ARGV[6] the user tag ('' a bucket). Removes up to a batch of expired
# entries (and their keys, should the app's clock be ahead of Redis's); returns how many.
PRUNE_BATCH = _script(
    "prune_batch",
    r"""
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[5]))
local utag = ARGV[6]
for _, id in ipairs(ids) do
  local key
  if utag == '' then
    key = string.sub(KEYS[1], 1, -2) .. 'i:' .. kesc(id)
  else
    key = skey(utag, id)
  end
  local v = getv(key)
  if v then
    local exp = parse(v)
    if tonumber(exp) <= NOW_US then redis.call('DEL', key) end
  end
  redis.call('ZREM', KEYS[1], id)
end
return #ids
""",
)
