"""The Lua prelude of the Redis Cluster scripts (:mod:`.scripts` says the key layout):
the single-node value parser, and the index functions of the cluster's layout."""

from __future__ import annotations

import zlib

from ..redis.scripts import _PRELUDE as _SINGLE_PRELUDE
from ..redis.scripts import Script

_ESCAPES = {"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D"}


def bucket(session_id: str) -> str:
    """The hash tag of a session's id key: ``#`` and 3 hex digits of the id's CRC-32."""
    return f"#{zlib.crc32(session_id.encode()) & 0xFFF:03x}"


def kesc(value: str) -> str:
    """``value`` as a key part: no ``:`` (the separator) and no brace (a hash tag's end)."""
    if value.isalnum():
        return value
    return "".join(_ESCAPES.get(c, c) for c in value)


# The single-node prelude's parse, keep, DECL (the set of KEYS) and the per-user cap's order
# (used_at, by_use) are reused as they are; the index functions are the cluster's. Every key
# a script touches is in its KEYS: KEYS[1] the key it is about,
# KEYS[2] the index beside it (its user's, or its bucket's), then any session keys of the
# user it reads (the caller read the index first; ``declared`` says whether it still holds
# nothing else, and a script answers "look again" before it changes anything otherwise).
_PARSE_AND_KEEP = _SINGLE_PRELUDE.split("local function index_add")[0]

_PRELUDE = (
    _PARSE_AND_KEEP
    + r"""
local IDX = KEYS[2]
local ESC = {['%'] = '%25', [':'] = '%3A', ['{'] = '%7B', ['}'] = '%7D'}
local function kesc(s) return (string.gsub(s, '[%%:{}]', ESC)) end
local function ubase(utag) return P .. '{' .. kesc(utag) .. '}' end
-- a signed-in session's value: P{@<slot tag>}s:<id> (st: :mod:`.slots`), or P{<user>}s:<id>
-- (st '' or nil: how sessions were filed before slot tags); both lie in the user's slot
local function skey(utag, id, st)
  if st and st ~= '' then return P .. '{@' .. st .. '}s:' .. kesc(id) end
  return ubase(utag) .. 's:' .. kesc(id)
end
local SPRE = P .. '{@'
-- the slot tag of a session's key ('' for any other key)
local function stag_of(key)
  if string.sub(key, 1, #SPRE) == SPRE then return string.sub(key, #SPRE + 1, #SPRE + 3) end
  return ''
end

-- a user index member is 'tenant tag:id' (a tag holds no ':'), after '@' and the slot tag
-- when the value is filed under one (a tenant tag starts with '-' or '='); a bucket's is
-- the id
local function member(ttag, id, utag, st)
  if utag == '' then return id end
  if st ~= '' then return '@' .. st .. ttag .. ':' .. id end
  return ttag .. ':' .. id
end
-- (tenant tag, id, slot tag or '') of a user index member
local function split(m)
  local at = string.find(m, ':', 1, true)
  if string.byte(m, 1) == 64 then
    return string.sub(m, 5, at - 1), string.sub(m, at + 1), string.sub(m, 2, 4)
  end
  return string.sub(m, 1, at - 1), string.sub(m, at + 1), ''
end

-- whether every session the members of a user's index name is declared in KEYS
local function declared(utag, members)
  for _, m in ipairs(members) do
    local _, id, st = split(m)
    if not DECL[skey(utag, id, st)] then return false end
  end
  return true
end

-- a session value at key, or false (missing, or the id key's pointer to a user's slot)
local function getv(key)
  local v = redis.call('GET', key)
  if v and string.sub(v, 1, 1) == '>' then return false end
  return v
end

-- st: the slot tag the session is filed under (nil: that of KEYS[1], the session's key)
local function index_add(id, ttag, utag, score, st)
  redis.call('ZADD', IDX, score, member(ttag, id, utag, st or stag_of(KEYS[1])))
  keep(IDX)
end

local function index_remove(id, ttag, utag, st)
  redis.call('ZREM', IDX, member(ttag, id, utag, st or stag_of(KEYS[1])))
end

-- The single-node scripts' key checks (..redis.scripts), for the single-node PATCH body run
-- here: its indexes are the one IDX, declared by every caller.
local function has_index() return true end
local function again() return nil end

local function put(key, id, exp_us, exp_ms, created, ttag, utag, data, dev)
  if tonumber(exp_us) > NOW_US and tonumber(exp_ms) > 0 then
    local v = table.concat(
      {'2', exp_us, created, ARGV[4], ttag, utag, dev[1], dev[2], dev[3], dev[4], data}, '\0')
    redis.call('SET', key, v, 'PXAT', exp_ms)
  else
    redis.call('DEL', key)
  end
  index_add(id, ttag, utag, exp_ms, stag_of(key))
end

-- SESSION_MAX_PER_USER (see ..redis.evict): the caller checked ``declared`` before writing;
-- the session kept is the one just written, at KEYS[1].
local function evict_extra(keep_id, ttag, utag, limit)
  if limit <= 0 or utag == '' then return 0 end
  if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
  local others, n = {}, 1
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', IDX, '(' .. NOW, '+inf')) do
    local mt, id, st = split(m)
    if mt == ttag and id ~= keep_id then
      local v = redis.call('GET', skey(utag, id, st))
      if v then
        local vexp, created, updated, vt, vu, _, dev = parse(v)
        if vt == ttag and vu == utag and tonumber(vexp) > NOW_US then
          others[#others + 1] = {used_at(updated, dev), tonumber(created), id, st}
          n = n + 1
        end
      end
    end
  end
  if n <= limit then return 0 end
  by_use(others)
  for i = limit, #others do
    redis.call('DEL', skey(utag, others[i][3], others[i][4]))
    index_remove(others[i][3], ttag, utag, others[i][4])
  end
  return #others - limit + 1
end
"""
)


def _script(name: str, body: str) -> Script:
    return Script("cluster_" + name, _PRELUDE + body)
