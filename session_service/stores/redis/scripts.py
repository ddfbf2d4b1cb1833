"""The Redis key layout and the Lua scripts: one script per operation that changes more than
one key, so each such operation is atomic (Redis runs a script without interleaving).

Keys, under the store's prefix ``P`` (``SESSION_REDIS_KEY_PREFIX``, default ``session:``):

* ``P s:<id>``: one session, a string ``2 \\0 expiry_us \\0 created_us \\0 updated_us \\0
  tenant \\0 user \\0 ip \\0 user agent \\0 last_seen_us \\0 handle \\0 data-json``,
  expiring by ``PXAT`` at its expiry (device fields empty when unknown; a value of version
  ``1``, written before them, has none and is read as such). None of the text fields can
  hold NUL (the store refuses it, as PostgreSQL must), so NUL separates the fields.
* ``P t:<tenant>``: sorted set of the tenant's session ids, scored by expiry (ms).
* ``P u:<tenant>:<user>``: sorted set of one user's session ids in one tenant, likewise.
* ``P ut:<user>``: sorted set of the tenants a user has sessions in, scored by their latest
  expiry (for clear/count/list of a user across every tenant).

A tenant is written ``-`` (none) or ``=`` plus the escaped id, a user ``=`` plus the escaped id
(or empty for none); escaping turns ``%`` into ``%25`` and ``:`` into ``%3A``, so tenant ``a:b``
with user ``c`` and tenant ``a`` with user ``b:c`` are different keys. Every write gives each
index it touches a ``PEXPIREAT`` at its highest score plus :data:`INDEX_GRACE_MS`: no key is
ever left without a TTL. A user's index is pruned of expired ids on every write to it; a
tenant's index keeps them until ``delete_expired`` (which counts them, as SQL counts expired
rows) or its own TTL.

Every key a script touches is declared in its ``KEYS`` (shared/API.md §16). The caller names
the keys it knows (the session's, and its owner's indexes); a key a script learns as it runs
(an index's members, the owner stored in a value the caller did not read) it checks with
``has`` before touching it, and before it changes anything it answers ``{"\\0keys", key…}``
when one was missing: :func:`.pool.run_script` runs it again with those declared too. The
layout is the same, so this needs no migration; a single node still holds every key (Redis
Cluster has a layout of its own, :mod:`..redis_cluster`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .evict import EVICT_BODY, EVICT_FUNCTION, REVOKED_FUNCTION

#: How long an index outlives its latest expiry, so expired sessions can still be counted and
#: cleaned (``stats``, ``delete_expired``) for a day after their last write.
INDEX_GRACE_MS = 24 * 3600 * 1000

NO_TENANT = "-"


def escape(value: str) -> str:
    """A key part that cannot contain the ``:`` separator (``%`` is escaped first)."""
    return value.replace("%", "%25").replace(":", "%3A")


def unescape(value: str) -> str:
    return value.replace("%3A", ":").replace("%25", "%")


def tenant_tag(tenant_id: str | None) -> str:
    return NO_TENANT if tenant_id is None else "=" + escape(tenant_id)


def user_tag(user_id: str | None) -> str:
    return "" if user_id is None else "=" + escape(user_id)


def index_keys(prefix: str, ttag: str, utag: str) -> list[str]:
    """The indexes a write of a session of (``ttag``, ``utag``) touches, to declare in
    ``KEYS``: the tenant's, and with a user the user's and the user's tenants'."""
    if not utag:
        return [prefix + "t:" + ttag]
    return [prefix + "t:" + ttag, prefix + "u:" + ttag + ":" + utag, prefix + "ut:" + utag]


def untag(tag: str) -> str | None:
    return None if tag in (NO_TENANT, "") else unescape(tag[1:])


#: Lua: ``has(key)``, whether ``key`` is declared (one that is not is noted), and
#: ``again()``, the answer that names the noted keys (``nil`` when none): a script calls it
#: before its first write, so an answer asking for keys has changed nothing. Needs ``DECL``,
#: the set of ``KEYS``.
DECLARE_FUNCTIONS = r"""
local NOTED, MISSING = {}, {}
local function has(key)
  if DECL[key] then return true end
  if not NOTED[key] then NOTED[key] = true; MISSING[#MISSING + 1] = key end
  return false
end
local function again()
  if #MISSING == 0 then return nil end
  local out = {'\0keys'}
  for i, key in ipairs(MISSING) do out[i + 1] = key end
  return out
end
"""

# ARGV[1..3] of every script: prefix, index grace, now (ms); ARGV[4]: now (us).
_PRELUDE = (
    r"""
local P, GRACE, NOW, NOW_US = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local DECL = {}
for i = 1, #KEYS do DECL[KEYS[i]] = true end

-- exp, created, updated, tenant tag, user tag, data, dev = {ip, ua, seen_us, handle}
local function parse(v)
  local f, pos = {}, 1
  local n = (string.sub(v, 1, 1) == '1') and 6 or 10
  for i = 1, n do
    local nul = string.find(v, "\0", pos, true)
    f[i] = string.sub(v, pos, nul - 1)
    pos = nul + 1
  end
  local dev = {'', '', '', ''}
  if n == 10 then dev = {f[7], f[8], f[9], f[10]} end
  return f[2], f[3], f[4], f[5], f[6], string.sub(v, pos), dev
end

local function keep(key)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] then
    redis.call('PEXPIREAT', key, string.format('%d', math.max(tonumber(top[2]), NOW) + GRACE))
  end
end

-- SESSION_MAX_PER_USER's order (see .evict), on a single node and a cluster alike: a
-- session's last use is the later of updated and last_seen; by_use sorts {used, created, id}
-- entries most recently used first (then created, then id)
local function used_at(updated, dev)
  local used = tonumber(updated)
  if dev[3] ~= '' and tonumber(dev[3]) > used then used = tonumber(dev[3]) end
  return used
end
local function by_use(others)
  table.sort(others, function(a, b)
    if a[1] ~= b[1] then return a[1] > b[1] end
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[3] > b[3]
  end)
end

local function index_add(id, ttag, utag, score)
  local t = P .. 't:' .. ttag
  redis.call('ZADD', t, score, id)
  keep(t)
  if utag ~= '' then
    local u = P .. 'u:' .. ttag .. ':' .. utag
    redis.call('ZREMRANGEBYSCORE', u, '-inf', NOW)
    redis.call('ZADD', u, score, id)
    keep(u)
    local ut = P .. 'ut:' .. utag
    redis.call('ZREMRANGEBYSCORE', ut, '-inf', NOW)
    redis.call('ZADD', ut, 'GT', score, ttag)
    keep(ut)
  end
end

local function index_remove(id, ttag, utag)
  redis.call('ZREM', P .. 't:' .. ttag, id)
  if utag ~= '' then redis.call('ZREM', P .. 'u:' .. ttag .. ':' .. utag, id) end
end

-- Write a session (exp_us, exp_ms as strings) and index it; a past expiry deletes the key
-- (the index entries stay, scored in the past, until delete_expired counts them).
local function put(key, id, exp_us, exp_ms, created, ttag, utag, data, dev)
  if tonumber(exp_us) > NOW_US and tonumber(exp_ms) > 0 then
    local v = table.concat(
      {'2', exp_us, created, ARGV[4], ttag, utag, dev[1], dev[2], dev[3], dev[4], data}, '\0')
    redis.call('SET', key, v, 'PXAT', exp_ms)
  elseif redis.call('DEL', key) == 1 then
    revoked({id})
  end
  index_add(id, ttag, utag, exp_ms)
end
"""
    + DECLARE_FUNCTIONS
    + r"""
-- whether the indexes of (ttag, utag) are declared (with its tenants' index: ``with_ut``)
local function has_index(ttag, utag, with_ut)
  local ok = has(P .. 't:' .. ttag)
  if utag ~= '' then
    ok = has(P .. 'u:' .. ttag .. ':' .. utag) and ok
    if with_ut then ok = has(P .. 'ut:' .. utag) and ok end
  end
  return ok
end

-- whether every session evict_extra(keep, ttag, utag, limit) may read after a write is
-- declared: none when the user's live index entries stay within the limit
local function has_evictable(keep, ttag, utag, limit)
  if limit <= 0 or utag == '' then return true end
  local u = P .. 'u:' .. ttag .. ':' .. utag
  if not has(u) then return false end
  if redis.call('ZCOUNT', u, '(' .. NOW, '+inf') < limit then return true end
  local ok = has(P .. 's:' .. keep)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', u, '(' .. NOW, '+inf')) do
    ok = has(P .. 's:' .. id) and ok
  end
  return ok
end
"""
)


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script and its SHA1 (run with ``EVALSHA``, loaded on ``NOSCRIPT``)."""

    name: str
    source: str

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()


def _script(name: str, body: str) -> Script:
    return Script(name, REVOKED_FUNCTION + _PRELUDE + EVICT_FUNCTION + body)


# KEYS[1] session key; ARGV[5..] mode, id, exp_us, exp_ms, tenant tag, user tag, data, extend,
# ip, user agent, last_seen_us, handle, SESSION_MAX_PER_USER (0: none; see .evict). create:
# never overwrites (0 when the key exists); update: only a live session (0 otherwise);
# written: 1 plus the sessions SESSION_MAX_PER_USER signed out. save: upsert. update keeps
# its tenant, its creation time and (extend == '0') its expiry. update and save keep the
# stored ip, user agent and handle, and its last_seen unless one is given.
WRITE = _script(
    "write",
    r"""
local mode, id, exp_us, exp_ms = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local ttag, utag, data = ARGV[9], ARGV[10], ARGV[11]
local created = ARGV[4]
local dev = {ARGV[13], ARGV[14], ARGV[15], ARGV[16]}
local limit = tonumber(ARGV[17])
local old = redis.call('GET', KEYS[1])
if mode == 'create' and old then return 0 end
local oexp, ocreated, ottag, outag, odev, _
if old then
  oexp, ocreated, _, ottag, outag, _, odev = parse(old)
  if mode == 'update' then
    if tonumber(oexp) <= NOW_US then return 0 end
    ttag = ottag
  end
elseif mode == 'update' then
  return 0
end
has_index(ttag, utag, true)
if old and (ottag ~= ttag or outag ~= utag) then has_index(ottag, outag, false) end
has_evictable(id, ttag, utag, limit)
local more = again()
if more then return more end
if mode == 'create' and redis.call('ZSCORE', P .. 't:' .. ttag, id) then
  return 0  -- taken, by an expired session not yet cleaned (as in SQL)
end
if old then
  if dev[3] == '' then dev[3] = odev[3] end
  dev = {odev[1], odev[2], dev[3], (odev[4] ~= '' and odev[4]) or dev[4]}
  if mode == 'update' and ARGV[12] == '0' then
    exp_us = oexp
    exp_ms = string.format('%d', math.ceil(tonumber(oexp) / 1000))
  end
  created = ocreated
  if ottag ~= ttag or outag ~= utag then index_remove(id, ottag, outag) end
end
put(KEYS[1], id, exp_us, exp_ms, created, ttag, utag, data, dev)
return 1 + evict_extra(id, ttag, utag, limit)
""",
)

# KEYS[1] session key; ARGV[5..] id, exp_us, exp_ms, last_seen_us ('' keeps it). Only a live
# session moves.
TOUCH_BODY = r"""
local old = redis.call('GET', KEYS[1])
if not old then return 0 end
local oexp, created, _, ttag, utag, data, dev = parse(old)
if tonumber(oexp) <= NOW_US then return 0 end
if not has_index(ttag, utag, true) then return again() end
if ARGV[8] ~= '' then dev[3] = ARGV[8] end
put(KEYS[1], ARGV[5], ARGV[6], ARGV[7], created, ttag, utag, data, dev)
return 1
"""
TOUCH = _script("touch", TOUCH_BODY)

# KEYS[1] session key; ARGV[5] last_seen_us ('' keeps it), ARGV[6] a handle for a session that
# has none (a value of version 1). A live session only, its expiry and indexes untouched;
# returns its handle, or false when it is gone.
DEVICE_BODY = r"""
local old = redis.call('GET', KEYS[1])
if not old then return false end
local oexp, created, updated, ttag, utag, data, dev = parse(old)
if tonumber(oexp) <= NOW_US then return false end
if ARGV[5] ~= '' then dev[3] = ARGV[5] end
if dev[4] == '' then dev[4] = ARGV[6] end
local v = table.concat(
  {'2', oexp, created, updated, ttag, utag, dev[1], dev[2], dev[3], dev[4], data}, '\0')
redis.call('SET', KEYS[1], v, 'KEEPTTL')
return dev[4]
"""
DEVICE = _script("device", DEVICE_BODY)

# KEYS[1] old key, KEYS[2] new key; ARGV[5..] old id, new id, exp_us, exp_ms, tenant tag,
# user tag, data, ip, user agent, last_seen_us, handle, SESSION_MAX_PER_USER, earliest live start
# (µs; 0: no absolute limit). 1 moved (plus the sessions SESSION_MAX_PER_USER signed out), 0
# old one gone or over, -1 new id taken. The handle stays; a last_seen given (device tracking
# on) records this device, else the stored fields are kept.
ROTATE = _script(
    "rotate",
    r"""
local old = redis.call('GET', KEYS[1])
if not old then return 0 end
local oexp, ocreated, _, ottag, outag, _, odev = parse(old)
if tonumber(oexp) <= NOW_US then return 0 end
if tonumber(ocreated) <= tonumber(ARGV[17]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
has_index(ottag, outag, false)
has_index(ARGV[9], ARGV[10], true)
has_evictable(ARGV[6], ARGV[9], ARGV[10], tonumber(ARGV[16]))
local more = again()
if more then return more end
local dev = odev
if ARGV[14] ~= '' then dev = {ARGV[12], ARGV[13], ARGV[14], odev[4]} end
if dev[4] == '' then dev[4] = ARGV[15] end
redis.call('DEL', KEYS[1]); index_remove(ARGV[5], ottag, outag); revoked({ARGV[5]})
put(KEYS[2], ARGV[6], ARGV[7], ARGV[8], ARGV[4], ARGV[9], ARGV[10], ARGV[11], dev)
return 1 + evict_extra(ARGV[6], ARGV[9], ARGV[10], tonumber(ARGV[16]))
""",
)

# KEYS[1] session key; ARGV[5] id.
DELETE = _script(
    "delete",
    r"""
local old = redis.call('GET', KEYS[1])
if old then
  local _, _, _, ttag, utag = parse(old)
  if not has_index(ttag, utag, false) then return again() end
  redis.call('DEL', KEYS[1])
  index_remove(ARGV[5], ttag, utag); revoked({ARGV[5]})
end
return 0
""",
)

EVICT_EXTRA = _script("evict_extra", EVICT_BODY)
