"""The Redis store's export and import primitives (:mod:`..._transfer` has the rules).

Export ``SCAN``s the session keys (or reads one tenant's index) and fetches each batch with
one ``MGET``; ``SCAN`` may name a key twice while Redis resizes its table, so the CLI's counts
come from the import side, which writes a key once. Import runs one script per row (atomic:
the value, its ``PXAT`` and its index entries together), a page's scripts in one pipeline. A row is
written when its key is absent or stored with an earlier ``updated_at``; its own creation and
update times are kept (a write from the app stamps the server's "now" instead).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ...errors import SessionDataError
from ...limits._checks import now_ms, wall_clock
from ...records import utcnow
from .._transfer import CounterEntry, LimitEntry, StoredSession, TransferRules, stored_from
from . import scripts as S
from .admin import FAILURES, RedisAdminOps, _glob, to_us
from .limits import PARAMS_SUFFIX

# KEYS[1] session key; ARGV[5..] key, exp_us, exp_ms, created_us, updated_us, tenant tag,
# user tag, ip, user agent, last_seen_us, handle, data. 1 written, 0 kept (stored as new or
# newer, or already expired).


def import_body(elsewhere: str = "") -> str:
    """The import script's body, one for both stores: the cluster's
    (:mod:`..redis_cluster.transfer`) adds an ``elsewhere`` line (with its newline) that
    answers for a key holding a pointer to the user's slot."""
    return (
        r"""
local id, exp_us, exp_ms, updated = ARGV[5], ARGV[6], ARGV[7], ARGV[9]
local ttag, utag = ARGV[10], ARGV[11]
if tonumber(exp_us) <= NOW_US then return 0 end
local old = redis.call('GET', KEYS[1])
"""
        + elsewhere
        + r"""if old then
  local _, _, oupdated, ottag, outag = parse(old)
  if tonumber(oupdated) >= tonumber(updated) then return 0 end
  if ottag ~= ttag or outag ~= utag then index_remove(id, ottag, outag) end
end
local v = table.concat({'2', exp_us, ARGV[8], updated, ttag, utag,
  ARGV[12], ARGV[13], ARGV[14], ARGV[15], ARGV[16]}, '\0')
redis.call('SET', KEYS[1], v, 'PXAT', exp_ms)
index_add(id, ttag, utag, exp_ms)
return 1
"""
    )


IMPORT = S._script("import", import_body())

# KEYS[1] log, KEYS[2] its numbers; ARGV hit times newest first, then expires_at (ms),
# "limit window_ms" or ''. Written (1) unless the stored log's newest hit is as new.
_IMPORT_LOG = r"""
local n = #ARGV - 2
local newest = redis.call('LINDEX', KEYS[1], 0)
if newest and tonumber(newest) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
for i = n, 1, -1 do redis.call('LPUSH', KEYS[1], ARGV[i]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[n + 1])
if ARGV[n + 2] ~= '' then redis.call('SET', KEYS[2], ARGV[n + 2], 'PXAT', ARGV[n + 1]) end
return 1
"""


class RedisTransferOps(TransferRules, RedisAdminOps):
    """Export and import under one key prefix."""

    if TYPE_CHECKING:
        _checked: bool

        async def _first_use(self) -> None: ...

    async def _export_batches(
        self, tenant_id: str | None, batch_size: int
    ) -> AsyncIterator[list[StoredSession]]:
        start = len(self._session_prefix)
        pending: list[str] = []
        try:
            if tenant_id is None:
                async for key in self._scan("s:"):
                    pending.append(key[start:])
                    if len(pending) >= batch_size:
                        yield await self._fetch(pending)
                        pending = []
            else:
                index = self.key_prefix + "t:" + S.tenant_tag(tenant_id)
                raw = await self.client.zrangebyscore(index, f"({to_us(utcnow()) // 1000}", "+inf")
                for i in range(0, len(raw), batch_size):
                    chunk = [k.decode() for k in raw[i : i + batch_size]]  # type: ignore[union-attr]
                    found = await self._fetch(chunk)
                    yield [r for r in found if r.tenant_id == tenant_id]
            if pending:
                yield await self._fetch(pending)
        except FAILURES as exc:
            raise self._fail("export sessions", exc) from exc

    async def _fetch(self, keys: list[str]) -> list[StoredSession]:
        return [stored_from(r) for r in await self._records(keys, to_us(utcnow()))]

    async def _import_batch(self, rows: list[tuple[StoredSession, str]]) -> int:
        """Each row its own script (atomic per session), all of the page in one pipeline: one
        round trip a page, not one a row. The script is loaded first, so no reply of the
        pipeline is a ``NOSCRIPT``."""
        for row, _data in rows:
            if ":" in row.key:  # the key layout of .scripts: a key part never holds one
                raise SessionDataError("an exported session's key cannot contain ':' on Redis")
        if not self._checked:
            await self._first_use()
        us = to_us(utcnow())
        head = (self.key_prefix, S.INDEX_GRACE_MS, us // 1000, us)  # what ``_run`` passes
        try:
            await self.client.script_load(IMPORT.source)
            async with self.client.pipeline(transaction=False) as pipe:
                for row, data in rows:
                    exp = to_us(row.expiry_date)
                    seen = "" if row.last_seen is None else str(to_us(row.last_seen))
                    pipe.evalsha(IMPORT.sha, 1, self._session_prefix + row.key, *head,
                                 row.key, exp, -(-exp // 1000), to_us(row.created_at),
                                 to_us(row.updated_at), S.tenant_tag(row.tenant_id),
                                 S.user_tag(row.user_id), row.ip or "", row.user_agent or "",
                                 seen, row.handle or "", data)  # fmt: skip
                replies = await pipe.execute()
        except FAILURES as exc:
            raise self._fail("import sessions", exc) from exc
        return sum(int(reply) for reply in replies)

    # -- rate limits and counters (``limit:`` and ``counter:`` keys, as .limits lays them out)

    async def _scan_values(self, kind: str, batch_size: int) -> AsyncIterator[list[str]]:
        """The keys of one kind of entry (``limit:``/``counter:``), as the app named them."""
        start = len(self.key_prefix + kind)
        pending: list[str] = []
        async for raw in self.client.scan_iter(
            match=_glob(self.key_prefix + kind) + "*", count=1000
        ):
            key = raw.decode()
            if PARAMS_SUFFIX in key:
                continue  # a log's numbers, read with their log
            pending.append(key[start:])
            if len(pending) >= batch_size:
                yield pending
                pending = []
        if pending:
            yield pending

    async def _export_limits(self, batch_size: int) -> AsyncIterator[list[LimitEntry]]:
        prefix = self.key_prefix + "limit:"
        try:
            async for keys in self._scan_values("limit:", batch_size):
                async with self.client.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.lrange(prefix + key, 0, -1)
                        pipe.pttl(prefix + key)
                        pipe.get(prefix + key + PARAMS_SUFFIX)
                    replies = await pipe.execute()
                now = now_ms(wall_clock)
                batch = []
                for i, key in enumerate(keys):
                    log, ttl, numbers = replies[3 * i : 3 * i + 3]
                    if not log or ttl < 0:
                        continue  # gone meanwhile
                    expires = now + ttl
                    limit, window = numbers.split() if numbers else (None, None)
                    batch.append(LimitEntry(key, [int(t) for t in reversed(log)], int(expires),
                                            None if limit is None else int(limit),
                                            None if window is None else int(window)))  # fmt: skip
                yield batch
        except FAILURES as exc:
            raise self._fail("export rate limits", exc) from exc

    async def _export_counters(self, batch_size: int) -> AsyncIterator[list[CounterEntry]]:
        prefix = self.key_prefix + "counter:"
        try:
            async for keys in self._scan_values("counter:", batch_size):
                async with self.client.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.get(prefix + key)
                        pipe.pttl(prefix + key)
                    replies = await pipe.execute()
                now = now_ms(wall_clock)
                batch = []
                for i, key in enumerate(keys):
                    value, ttl = replies[2 * i : 2 * i + 2]
                    if value is None or ttl == -2:
                        continue  # gone meanwhile
                    batch.append(CounterEntry(key, int(value), None if ttl < 0 else now + ttl))
                yield batch
        except FAILURES as exc:
            raise self._fail("export counters", exc) from exc

    async def _import_limits(self, entries: list[LimitEntry], now: int) -> int:
        prefix = self.key_prefix + "limit:"
        written = 0
        try:
            for e in entries:
                numbers = (
                    "" if e.limit is None or e.window_ms is None else f"{e.limit} {e.window_ms}"
                )
                keys = [prefix + e.key, prefix + e.key + PARAMS_SUFFIX]
                args: list[str | int] = [*reversed(e.hits), e.expires_at, numbers]
                written += int(await self.client.eval(_IMPORT_LOG, 2, *keys, *args))
        except FAILURES as exc:
            raise self._fail("import rate limits", exc) from exc
        return written

    async def _import_counters(self, entries: list[CounterEntry], now: int) -> int:
        prefix = self.key_prefix + "counter:"
        written = 0
        try:
            for e in entries:  # SET NX: a live counter of that key stays as it is
                done = await self.client.set(prefix + e.key, e.value, nx=True, pxat=e.expires_at)
                written += bool(done)
        except FAILURES as exc:
            raise self._fail("import counters", exc) from exc
        return written
