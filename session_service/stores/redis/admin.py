"""The Redis store's admin side: dump, clear everything, expiry cleanup and statistics.

These are the only operations that ``SCAN`` (for the tenant, user and session keys under the
prefix; never ``KEYS``, which blocks the server): by user and by tenant, the indexes answer.
Each batch of a delete is one Lua script, so a crash or Ctrl-C between batches leaves every
session either whole or gone, with its index entries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis import exceptions as rx

from ...errors import SessionDataError, SessionStoreUnavailable
from ...records import SessionRecord, utcnow
from .._codec import storable
from ..protocol import DEFAULT_BATCH_SIZE, ProgressCallback, StoreStats, check_batch_size
from . import scripts as S

if TYPE_CHECKING:
    import redis.asyncio as aioredis

FAILURES = (rx.RedisError, OSError, TimeoutError)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
_SCAN_COUNT = 1000


def to_us(value: datetime) -> int:
    """Microseconds since the epoch (exact), for the values and the scripts' clock."""
    if value.tzinfo is None:
        raise SessionDataError("naive datetimes are ambiguous; pass a timezone-aware datetime")
    return (value - EPOCH) // US


def _glob(text: str) -> str:
    """``text`` as a literal in a ``SCAN MATCH`` pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def oldest_first(records: Any) -> list[SessionRecord]:
    return sorted(records, key=lambda r: (r.created_at, r.id))


class RedisAdminOps:
    """The admin operations of :class:`~.store.RedisSessionStore` (a mixin: the store
    provides the client, the scripts runner and the value parser)."""

    key_prefix: str
    _session_prefix: str

    if TYPE_CHECKING:

        @property
        def client(self) -> aioredis.Redis: ...

        def _fail(self, action: str, exc: BaseException) -> SessionStoreUnavailable: ...

        async def _run(self, script: S.Script, keys: Sequence[str], *args: Any) -> Any: ...

        def _record(self, sid: str, raw: Any, now_us: int) -> SessionRecord | None: ...

    async def _scan(self, kind: str) -> AsyncIterator[str]:
        """Every key of one kind (``s:``, ``t:``, ``u:``, ``ut:``) under the prefix: admin only."""
        async for key in self.client.scan_iter(
            match=_glob(self.key_prefix + kind) + "*", count=_SCAN_COUNT
        ):
            yield key.decode()

    async def _records(self, ids: list[str], now: int) -> list[SessionRecord]:
        out: list[SessionRecord] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            values = await self.client.mget([self._session_prefix + i for i in chunk])
            out.extend(
                r for i, v in zip(chunk, values, strict=True)
                if v is not None and (r := self._record(i, v, now)) is not None
            )  # fmt: skip
        return out

    async def dump_all_sessions(self, *, tenant_id: str | None = None) -> list[SessionRecord]:
        """Every live session (of one tenant), for debugging; ``SCAN``s without a tenant."""
        if tenant_id is not None and not storable(tenant_id):
            return []
        now = to_us(utcnow())
        try:
            if tenant_id is None:
                start = len(self._session_prefix)
                ids = [key[start:] async for key in self._scan("s:")]
            else:
                index = self.key_prefix + "t:" + S.tenant_tag(tenant_id)
                raw = await self.client.zrangebyscore(index, f"({now // 1000}", "+inf")
                ids = [i.decode() for i in raw]  # type: ignore[union-attr]
            records = await self._records(ids, now)
        except FAILURES as exc:
            raise self._fail("dump sessions", exc) from exc
        return oldest_first(r for r in records if tenant_id is None or r.tenant_id == tenant_id)

    async def _tenant_indexes(self, tenant_id: str | None) -> list[str]:
        if tenant_id is not None:
            return [self.key_prefix + "t:" + S.tenant_tag(tenant_id)]
        return [key async for key in self._scan("t:")]

    async def clear_all_sessions(
        self,
        *,
        tenant_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Delete every session (of one tenant) in batches, each one script; how many."""
        check_batch_size(batch_size)
        if tenant_id is not None and not storable(tenant_id):
            return 0
        total = 0
        try:
            for index in await self._tenant_indexes(tenant_id):
                tag = index[len(self.key_prefix) + 2 :]
                while True:
                    n, taken = await self._run(S.CLEAR_TENANT_BATCH, [index], tag, batch_size)
                    total += int(n)
                    if on_progress is not None and n:
                        on_progress(total)
                    if int(taken) < batch_size:
                        break
            if tenant_id is None:  # what no index names (evicted indexes), and the indexes
                total += await self._unlink_all("s:")
                await self._unlink_all("u:")
                await self._unlink_all("ut:")
        except FAILURES as exc:
            raise self._fail("clear sessions", exc) from exc
        return total

    async def _unlink_all(self, kind: str) -> int:
        keys = [key async for key in self._scan(kind)]
        for start in range(0, len(keys), 1000):
            await self.client.unlink(*keys[start : start + 1000])
        return len(keys)

    # -- expiry and statistics ----------------------------------------------------------

    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int:
        """Redis expires the keys itself; this removes the expired index entries (counting
        those of the tenant indexes, one per expired session) in batches; returns how many."""
        check_batch_size(batch_size)
        total = 0
        try:
            for index in await self._tenant_indexes(None):
                while True:
                    n = int(await self._run(S.PRUNE_BATCH, [index], batch_size))
                    total += n
                    if on_progress is not None and n:
                        on_progress(total)
                    if n < batch_size:
                        break
            now = to_us(utcnow()) // 1000
            for kind in ("u:", "ut:"):
                async for key in self._scan(kind):
                    await self.client.zremrangebyscore(key, "-inf", now)
        except FAILURES as exc:
            raise self._fail("delete expired sessions", exc) from exc
        return total

    async def delete_expired_if_leader(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
        """Every instance may prune (each batch is atomic), so this just runs it."""
        return await self.delete_expired(batch_size=batch_size)

    async def stats(self) -> StoreStats:
        """Totals from the indexes (``SCAN``): expired = index entries not yet cleaned."""
        now = to_us(utcnow()) // 1000
        live_min = f"({now}"
        total = live = 0
        per_tenant: dict[str | None, int] = {}
        users: set[str] = set()
        skip = len(self.key_prefix)
        try:
            for index in await self._tenant_indexes(None):
                n_all = await self.client.zcard(index)
                n_live = await self.client.zcount(index, live_min, "+inf")
                total, live = total + n_all, live + n_live
                if n_live:
                    per_tenant[S.untag(index[skip + 2 :])] = n_live
            async for key in self._scan("u:"):
                if await self.client.zcount(key, live_min, "+inf"):
                    users.add(key[skip + 2 :].split(":", 1)[1])
        except FAILURES as exc:
            raise self._fail("compute statistics", exc) from exc
        return StoreStats(total, live, total - live, len(users), per_tenant)
