"""``patch`` on Redis: one Lua script merges a request's changed keys into the stored JSON.

Why the script splits the JSON itself instead of using Redis's ``cjson``: decoding and
re-encoding the stored object would change the keys this request did not touch. ``cjson``
encodes an empty list as ``{}`` (Lua has one table type), writes numbers with 14 significant
digits (``12345678901234567`` comes back as ``1.2345678901235e+16``, ``0.1 + 0.2`` as
``0.3``) and cannot tell ``1`` from ``1.0``; a session read back would then differ from the
one written, which no other store allows. Other designs keep the bytes too, at a price: a
Redis hash per session changes the key layout every script, the admin operations and the
one-``GET`` load rely on, and a client-side merge under ``WATCH`` costs at least two more
round trips and retries under contention.

So the script works on the JSON text: it splits the stored object into its top-level members
(finding where each key and value ends by skipping strings and counting brackets; it never
decodes a value), drops the removed keys, replaces or appends the changed ones and joins the
members again. Every value it did not touch keeps its exact bytes. Keys are matched by their
JSON text, which is unambiguous because every session is written by the same encoder (compact,
not ASCII-only: :func:`~session_service.stores._delta.key_json`). The merged size is exact,
so ``SESSION_MAX_BYTES`` holds byte for byte, as for a whole write.
"""

from __future__ import annotations

from .._delta import Delta
from .scripts import _script

# KEYS[1] session key; ARGV[5..] id, exp_us, exp_ms ('' '' keeps the stored expiry), owner
# flag ('1': the user tag changes), user tag, max bytes ('' none), n (or 'n/m'); then n pairs
# of key JSON, value JSON; then m pairs that must be stored as they are (else nothing is
# written: a compare-and-set, ``Delta.expected``); then the removed keys' JSON. 1 written,
# 0 gone, expired or changed, -size too large.
PATCH = _script(
    "patch",
    r"""
-- index just past the JSON string that opens at i
local function str_end(s, i)
  local j = i + 1
  while true do
    local k = string.find(s, '["\\]', j)
    if string.byte(s, k) == 34 then return k + 1 end
    j = k + 2
  end
end

-- index just past the JSON value that starts at i
local function value_end(s, i)
  local c = string.byte(s, i)
  if c == 34 then return str_end(s, i) end
  if c == 123 or c == 91 then
    local depth, j = 0, i
    while true do
      local k = string.find(s, '["{}%[%]]', j)
      local b = string.byte(s, k)
      if b == 34 then
        j = str_end(s, k)
      else
        if b == 123 or b == 91 then depth = depth + 1 else depth = depth - 1 end
        j = k + 1
        if depth == 0 then return j end
      end
    end
  end
  return string.find(s, '[,}%]%s]', i)
end

-- the top-level members of a JSON object: their keys' and values' JSON text, in order
local function members(s)
  local ks, vs = {}, {}
  local i = string.find(s, '%S')
  if not i or string.byte(s, i) ~= 123 then return ks, vs end
  i = string.find(s, '%S', i + 1)
  if string.byte(s, i) == 125 then return ks, vs end
  while true do
    local ke = str_end(s, i)
    local vi = string.find(s, '%S', string.find(s, ':', ke, true) + 1)
    local ve = value_end(s, vi)
    ks[#ks + 1] = string.sub(s, i, ke - 1)
    vs[#vs + 1] = string.sub(s, vi, ve - 1)
    local n = string.find(s, '%S', ve)
    if string.byte(s, n) ~= 44 then return ks, vs end
    i = string.find(s, '%S', n + 1)
  end
end

local function merge(data, n, at, m)
  local ks, vs = members(data)
  local pos = {}
  for i, k in ipairs(ks) do pos[k] = i end
  local rm = at + 2 * n + 2 * m
  for i = at + 2 * n, rm - 1, 2 do  -- a compare-and-set: each expected value still stored
    local p = pos[ARGV[i]]
    if not p or vs[p] ~= ARGV[i + 1] then return nil end
  end
  for i = rm, #ARGV do
    local p = pos[ARGV[i]]
    if p then vs[p] = false end
  end
  for i = at, at + 2 * n - 1, 2 do
    local p = pos[ARGV[i]]
    if p then
      vs[p] = ARGV[i + 1]
    else
      ks[#ks + 1] = ARGV[i]
      vs[#ks] = ARGV[i + 1]
      pos[ARGV[i]] = #ks
    end
  end
  local out = {}
  for i, k in ipairs(ks) do
    if vs[i] then out[#out + 1] = k .. ':' .. vs[i] end
  end
  return '{' .. table.concat(out, ',') .. '}'
end

local id, exp_us, exp_ms, uflag, utag, max = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local old = redis.call('GET', KEYS[1])
if not old then return 0 end
local oexp, created, _, ttag, outag, data, dev = parse(old)
if tonumber(oexp) <= NOW_US then return 0 end
if uflag ~= '1' then utag = outag end
if exp_us ~= '' or utag ~= outag then  -- the indexes change: every one declared first
  has_index(ttag, utag, true)
  if utag ~= outag then has_index(ttag, outag, false) end
  local more = again()
  if more then return more end
end
local n, m = ARGV[11], 0
local slash = string.find(n, '/', 1, true)
if slash then
  m = tonumber(string.sub(n, slash + 1))
  n = string.sub(n, 1, slash - 1)
end
local merged = merge(data, tonumber(n), 12, m)
if not merged then return 0 end
if max ~= '' and #merged > tonumber(max) then return -#merged end
if exp_us == '' then
  exp_us = oexp
  exp_ms = string.format('%d', math.ceil(tonumber(oexp) / 1000))
  if utag == outag then  -- neither the expiry nor the owner moves: no index changes
    local v = table.concat(
      {'2', exp_us, created, ARGV[4], ttag, utag, dev[1], dev[2], dev[3], dev[4], merged}, '\0')
    redis.call('SET', KEYS[1], v, 'PXAT', exp_ms)
    return 1
  end
end
if utag ~= outag then index_remove(id, ttag, outag) end
put(KEYS[1], id, exp_us, exp_ms, created, ttag, utag, merged, dev)
return 1
""",
)


def counted_pairs(delta: Delta) -> list[str]:
    """The script's ``n`` (or ``n/m``) and its pairs, for ``delta``."""
    pairs = [part for entry in delta.entries for part in entry]
    if not delta.expected:
        return [str(len(delta.entries)), *pairs]
    expected = [part for entry in delta.expected for part in entry]
    return [f"{len(delta.entries)}/{len(delta.expected)}", *pairs, *expected]
