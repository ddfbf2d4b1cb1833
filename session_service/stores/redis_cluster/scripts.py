"""The Redis Cluster key layout and its Lua scripts (docs/stores.md, "Redis Cluster", says why
this layout).

Keys, under the store's prefix ``P`` (no ``{`` or ``}`` in it), each part escaped by
:func:`kesc` (``%`` ``:`` ``{`` ``}`` as ``%25`` ``%3A`` ``%7B`` ``%7D``), so a hash tag is
always the text between the key's first braces:

* ``P{#<bucket>}i:<id>``: the **id key**, in one of 4096 buckets chosen by the id's CRC-32
  (:func:`bucket`), so it is found from the id alone. For an anonymous session it holds
  the session's value (as ``P s:<id>`` does on one node: :mod:`..redis.scripts`); for a
  signed-in one a pointer, ``>`` and where the value is (``@<slot tag>`` then the user's tag,
  or the user's tag alone for a session filed before slot tags). It expires with the
  session.
* ``P{#<bucket>}a``: the bucket's sessions, a sorted set of ids scored by expiry: what
  statistics, cleanup and ``create`` (an expired id not yet cleaned is taken, as in SQL)
  go by once Redis has dropped an expired session's keys;
* ``P{@<slot tag>}s:<id>``: a signed-in session's value, in its **user's slot**: the slot
  tag (:mod:`.slots`) is 3 characters whose hash lands in that slot, and the session's id
  ends with it, so a load reads the value with one ``GET`` and no pointer. Sessions filed
  before slot tags are at ``P{<user>}s:<id>`` (same slot) and are found by the pointer;
* ``P{<user>}u``: the user's sessions, a sorted set of ``<tenant tag>:<id>`` (with
  ``@<slot tag>`` before it for a value filed under one) scored by expiry (one key, so a
  change of tenant touches no other).

Everything one user's atomic operations touch (create, rotate, clear-by-user, revoke by
handle, sign out other devices, ``SESSION_MAX_PER_USER``) lies in the user's slot, so each is
one script on one primary. There is no tenant index (it would gather every user of a tenant
in one slot): work by tenant visits every primary, as clear-all, statistics and cleanup do.

Every key a script touches is declared in its ``KEYS`` (:mod:`.prelude`): a script that
reads a user's other sessions (clear, revoke, list, the per-user cap, cleanup) is given them
by the caller, who read the user's index first; if the index names one more by then, the
script changes nothing and answers "look again" (``-1``, or ``{3}`` for ``WRITE``). Declared
keys are what let the cluster route a script during a slot migration (``ASK``), and what
strict engines require.
"""

from __future__ import annotations

from ..redis import scripts as S1
from ..redis.admin_scripts import OWNED_FUNCTION
from ..redis.delta import PATCH as _SINGLE_PATCH
from .prelude import _script, bucket, kesc

__all__ = ["bucket", "kesc"]  # the key parts, for the store

#: What a script answers when the user's index names a session it was not given.
LOOK_AGAIN = -1

# KEYS[1] where the session goes (its id key, or its key in its user's slot), KEYS[2] the
# index there, then (with SESSION_MAX_PER_USER) the user's other sessions; ARGV[5..] mode,
# id, exp_us, exp_ms, tenant tag, user tag, data, extend, ip, user agent, last_seen_us,
# handle, SESSION_MAX_PER_USER, carried (the value of a session moved here from another
# slot, taken there by TAKE; '' none), the pointer the id key must hold for it to be
# replaced. Returns {0} nothing written, {1, exp_ms, how many sessions SESSION_MAX_PER_USER
# signed out} written, {2, user tag} when the id key
# points to a user's slot (move it from there first), {3}: look again. The modes are those
# of the single-node WRITE.
WRITE = _script(
    "write",
    r"""
local mode, id, exp_us, exp_ms = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local ttag, utag, data, carried = ARGV[9], ARGV[10], ARGV[11], ARGV[18]
local limit = tonumber(ARGV[17])
if limit > 0 and utag ~= '' and not declared(utag, redis.call('ZRANGE', IDX, 0, -1)) then
  return {3}
end
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
if mode == 'create' and (old or (utag == '' and redis.call('ZSCORE', IDX, id))) then
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
return {1, exp_ms, evict_extra(id, ttag, utag, limit)}
""",
)

# KEYS[1] a session's key, KEYS[2] its index; ARGV[5] id, ARGV[6] what to leave at the key
# ('' nothing, else the pointer to write, its TTL kept). Takes the session from there (with
# its index entry); returns its value if it was live, else false.
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

# KEYS[1] a free id key, KEYS[2] its bucket; ARGV[5] the pointer to write, ARGV[6] its
# expiry (ms), ARGV[7] the id, ARGV[8] '1' for a new session. 0 when the id is taken (by a
# live session, or for a new one also by an expired one its bucket still names).
CLAIM = _script(
    "claim",
    r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[8] == '1' and redis.call('ZSCORE', IDX, ARGV[7]) then return 0 end
redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[6])
redis.call('ZADD', IDX, ARGV[6], ARGV[7])
keep(IDX)
return 1
""",
)

# KEYS[1] an id key, KEYS[2] its bucket; ARGV[5] the pointer it must hold, ARGV[6] the
# expiry (ms) it and the bucket entry get then, ARGV[7] the id. 1, or 0 when it holds
# something else (the session was moved or deleted meanwhile).
POINT = _script(
    "point",
    r"""
if redis.call('GET', KEYS[1]) ~= ARGV[5] then return 0 end
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
redis.call('ZADD', IDX, ARGV[6], ARGV[7])
keep(IDX)
return 1
""",
)

# KEYS[1] an id key, KEYS[2] its bucket; ARGV[5] the pointer it must hold, ARGV[6] the one
# it gets (its TTL kept). 1, or 0 when it held something else.
REPOINT = _script(
    "repoint",
    r"""
if redis.call('GET', KEYS[1]) ~= ARGV[5] then return 0 end
redis.call('SET', KEYS[1], ARGV[6], 'KEEPTTL')
return 1
""",
)

# KEYS[1] an id key, KEYS[2] its bucket; ARGV[5] the pointer it is expected to hold ('' for
# a session value), ARGV[6] the id. Deletes it (and its bucket entry) unless it holds another
# pointer, which it returns; 1 deleted, 0 nothing there.
DROP_ID = _script(
    "drop_id",
    r"""
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == '>' and v ~= ARGV[5] then return v end
redis.call('ZREM', IDX, ARGV[6])
if not v then return 0 end
redis.call('DEL', KEYS[1])
return 1
""",
)

# KEYS[1] the new key, KEYS[2] its index, KEYS[3] the old key when in the same slot (ARGV[18]
# '1'; else its value is carried in ARGV[17]), then (with SESSION_MAX_PER_USER) the user's
# other sessions; ARGV[5..] old id, new id, exp_us, exp_ms, tenant tag, user tag, data, ip,
# user agent, last_seen_us, handle, SESSION_MAX_PER_USER, then ARGV[19] the earliest live start
# (µs; 0: no absolute limit). 1 moved (plus the sessions SESSION_MAX_PER_USER signed out), 0
# old session gone or past its absolute deadline, -1 new id taken, -2 look again. The device
# rules of the single-node ROTATE.
ROTATE = _script(
    "rotate",
    r"""
local limit = tonumber(ARGV[16])
if limit > 0 and ARGV[10] ~= '' and not declared(ARGV[10], redis.call('ZRANGE', IDX, 0, -1)) then
  return -2
end
local old
local same = ARGV[18] == '1'
if same then
  old = getv(KEYS[3])
  if not old then return 0 end
else
  old = ARGV[17]
end
local oexp, ocreated, _, ottag, outag, _, odev = parse(old)
if tonumber(oexp) <= NOW_US then return 0 end
if tonumber(ocreated) <= tonumber(ARGV[19]) then return 0 end
local there = redis.call('GET', KEYS[1])
if there and there ~= '>' then return -1 end  -- '>': the id key, claimed by this rotate
local dev = odev
if ARGV[14] ~= '' then dev = {ARGV[12], ARGV[13], ARGV[14], odev[4]} end
if dev[4] == '' then dev[4] = ARGV[15] end
if same then
  redis.call('DEL', KEYS[3])
  index_remove(ARGV[5], ottag, outag, stag_of(KEYS[3]))
end
put(KEYS[1], ARGV[6], ARGV[7], ARGV[8], ARGV[4], ARGV[9], ARGV[10], ARGV[11], dev)
return 1 + evict_extra(ARGV[6], ARGV[9], ARGV[10], limit)
""",
)


def _on_cluster(body: str) -> str:
    """A single-node script's body as it runs on the cluster prelude (KEYS[1] its session's
    key, KEYS[2] the index there): one source for both; getv refuses the id key's pointer."""
    return body.replace("redis.call('GET', KEYS[1])", "getv(KEYS[1])")


# The single-node PATCH body runs as it is on the cluster prelude.
_PATCH_BODY = _SINGLE_PATCH.source.split("\nlocal function str_end", 1)[1]
PATCH = _script(
    "patch",
    "\nlocal function str_end" + _on_cluster(_PATCH_BODY),
)

# KEYS[1] session key, KEYS[2] its index; ARGV[5..] id, exp_us, exp_ms, last_seen_us ('' keeps
# it).
TOUCH = _script("touch", _on_cluster(S1.TOUCH_BODY))

# KEYS[1] session key, KEYS[2] its index; ARGV[5] last_seen_us ('' keeps it), ARGV[6] a
# handle for a session that has none. Returns its handle, or false when it is gone.
DEVICE = _script("device", _on_cluster(S1.DEVICE_BODY))

# Per-user scripts: KEYS[1] = KEYS[2] the user's index, then every session it names (and the
# one to keep); ARGV[5] user tag, ARGV[6] tenant tag ('' every tenant). -1: look again.
_MEMBERS = r"""
local utag, only = ARGV[5], ARGV[6]
local members = redis.call('ZRANGE', IDX, 0, -1)
if not declared(utag, members) then return -1 end
"""

# ARGV[7] the id of a session to keep ('' none). The single-node CLEAR_USER's rules; returns
# {count, the ids deleted, their slot tags} (the caller drops their id keys).
CLEAR_USER = _script(
    "clear_user",
    _MEMBERS
    + r"""
local keep_id = ARGV[7]
if keep_id ~= '' then
  local kkey = skey(utag, keep_id)
  for _, m in ipairs(members) do
    local _, id, st = split(m)
    if id == keep_id then kkey = skey(utag, id, st) end
  end
  if not DECL[kkey] then return -1 end
  local kv = redis.call('GET', kkey)
  if not kv then return {0, {}, {}} end
  local kexp, _, _, kt, ku = parse(kv)
  if tonumber(kexp) <= NOW_US or ku ~= utag or (only ~= '' and kt ~= only) then
    return {0, {}, {}}
  end
end
local n, gone, tags = 0, {}, {}
for _, m in ipairs(members) do
  local mt, id, st = split(m)
  if (only == '' or mt == only) and id ~= keep_id then
    local key = skey(utag, id, st)
    local v = redis.call('GET', key)
    local mine = true
    if v then
      local _, _, _, vt = parse(v)
      mine = (vt == mt)
      if mine then redis.call('DEL', key) end
    end
    if mine then
      n = n + 1
      gone[#gone + 1] = id
      tags[#tags + 1] = st
    end
    redis.call('ZREM', IDX, m)
  end
end
return {n, gone, tags}
""",
)

# ARGV[7] a handle. Returns {id, slot tag} of the live session deleted, or false.
REVOKE = _script(
    "revoke",
    _MEMBERS
    + r"""
for _, m in ipairs(members) do
  local mt, id, st = split(m)
  if only == '' or mt == only then
    local key = skey(utag, id, st)
    local v = redis.call('GET', key)
    if v then
      local vexp, _, _, vt, vu, _, dev = parse(v)
      if vt == mt and dev[4] == ARGV[7] and tonumber(vexp) > NOW_US then
        redis.call('DEL', key)
        index_remove(id, vt, vu, st)
        return {id, st}
      end
    end
  end
end
return false
""",
)

# id, value pairs of the user's live sessions (the single node's step, ``owned``).
OWNED = _script(
    "owned",
    _MEMBERS
    + OWNED_FUNCTION
    + r"""
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', IDX, '(' .. NOW, '+inf')) do
  local mt, id, st = split(m)
  if only == '' or mt == only then owned(out, id, skey(utag, id, st)) end
end
return {out}
""",
)

# KEYS[1] = KEYS[2] a user's index or a bucket, then the keys of the entries to prune (the
# first ARGV[5] past their expiry, as the caller read them); ARGV[6] the user tag ('' a
# bucket). Removes those entries (and the keys, should the app's clock be ahead of Redis's);
# returns how many, or -1: look again.
PRUNE_BATCH = _script(
    "prune_batch",
    r"""
local found = redis.call('ZRANGEBYSCORE', IDX, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[5]))
local utag = ARGV[6]
local keys = {}
for i, m in ipairs(found) do
  if utag == '' then
    keys[i] = string.sub(IDX, 1, -2) .. 'i:' .. kesc(m)
  else
    local _, id, st = split(m)
    keys[i] = skey(utag, id, st)
  end
  if not DECL[keys[i]] then return -1 end
end
for i, m in ipairs(found) do
  local v = getv(keys[i])
  if v then
    local exp = parse(v)
    if tonumber(exp) <= NOW_US then redis.call('DEL', keys[i]) end
  end
  redis.call('ZREM', IDX, m)
end
return #found
""",
)
