"""The Redis script of ``SESSION_MAX_PER_USER`` (see :mod:`.._per_user`): the check and the
deletes in one script, so they are atomic against every other write."""

from __future__ import annotations

from .scripts import _script

# KEYS[1] the key of the session logging in; ARGV[5] its id, ARGV[6] the limit
# (SESSION_MAX_PER_USER). When its user has more live sessions in its tenant than the limit,
# deletes the least recently used others (the later of updated and last_seen, then created,
# then id: the rule of session_service.stores.base.least_recently_used) down to the limit;
# returns how many. Nothing when the session is gone or has no user.
EVICT_EXTRA = _script(
    "evict_extra",
    r"""
local kv = redis.call('GET', KEYS[1])
if not kv then return 0 end
local kexp, _, _, ttag, utag = parse(kv)
if tonumber(kexp) <= NOW_US or utag == '' then return 0 end
local limit, keep = tonumber(ARGV[6]), ARGV[5]
local u = P .. 'u:' .. ttag .. ':' .. utag
local others, n = {}, 1
for _, id in ipairs(redis.call('ZRANGEBYSCORE', u, '(' .. NOW, '+inf')) do
  if id ~= keep then
    local v = redis.call('GET', P .. 's:' .. id)
    if v then
      local vexp, created, updated, vt, vu, _, dev = parse(v)
      if vt == ttag and vu == utag and tonumber(vexp) > NOW_US then
        local used = tonumber(updated)
        if dev[3] ~= '' and tonumber(dev[3]) > used then used = tonumber(dev[3]) end
        others[#others + 1] = {used, tonumber(created), id}
        n = n + 1
      end
    end
  end
end
if n <= limit then return 0 end
table.sort(others, function(a, b)
  if a[1] ~= b[1] then return a[1] > b[1] end
  if a[2] ~= b[2] then return a[2] > b[2] end
  return a[3] > b[3]
end)
local gone = 0
for i = limit, #others do
  local id = others[i][3]
  redis.call('DEL', P .. 's:' .. id)
  index_remove(id, ttag, utag)
  gone = gone + 1
end
return gone
""",
)
