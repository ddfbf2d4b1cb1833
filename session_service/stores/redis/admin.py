"""The Redis store's admin side: by user, by tenant, everything, expiry cleanup, statistics.

By user and by tenant, the per-user and per-tenant indexes answer, and each change is one Lua
script (a user's sessions cleared, one revoked). Only the store-wide operations (dump, clear
everything, cleanup, statistics) ``SCAN`` (for the tenant, user and session keys under the
prefix; never ``KEYS``, which blocks the server). Each batch of a delete is one Lua script, so
a crash or Ctrl-C between batches leaves every session either whole or gone, with its index
entries. The arguments are checked above, in :class:`~..base.SessionStoreBase`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis import exceptions as rx

from ...errors import SessionConfigError, SessionStoreUnavailable
from ...records import SessionRecord, utcnow
from ..base import SessionStoreBase
from ..protocol import ProgressCallback, StoreStats
from . import admin_scripts as A
from . import scripts as S

if TYPE_CHECKING:
    import redis.asyncio as aioredis

FAILURES = (rx.RedisError, OSError, TimeoutError)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
_SCAN_COUNT = 1000


def to_us(value: datetime) -> int:
    """Microseconds since the epoch (exact) of an aware datetime (checked by the store's
    rules), for the values and the scripts' clock."""
    return (value - EPOCH) // US


#: What follows each kind of key (:mod:`.scripts`): a session id (never a ``:``), a tenant tag
#: (``-`` or ``=`` and an escaped id), a tenant and a user tag, a user tag.
_SHAPES = {
    "s:": re.compile(r"[^:]+"),
    "t:": re.compile(r"-|=[^:]*"),
    "u:": re.compile(r"(?:-|=[^:]*):=[^:]*"),
    "ut:": re.compile(r"=[^:]*"),
}


#: The one prefix shape a nested store could be mistaken by: ``app:u:=x`` followed by ``t:…``
#: reads, under the prefix ``app:``, as the user index of tenant ``xt``.
_CONFUSABLE = re.compile(r"u:=[^:]*\Z")
#: A prefix holding ``limit:`` or ``counter:`` lies inside the limit or counter keys of the
#: store on the text before it (whose keys there are app-chosen and may hold anything).
_IN_LIMIT_KEYS = re.compile(r"(limit|counter):")


def check_prefix(prefix: str) -> None:
    """Refuse the one kind of key prefix whose keys another store could take for its own.

    Two stores on nested prefixes (``app:`` and ``app:s:``, ``app`` and ``apps:``) each keep
    to their own keys, since every admin scan accepts only the exact shapes of
    :data:`_SHAPES`, and what a nested prefix adds always carries a ``:`` that no id or tag
    holds. The exceptions: a prefix ending in ``u:=`` and text without ``:`` (its tenant
    indexes would have the shape of a user index under the shorter prefix), and a prefix
    holding ``limit:`` or ``counter:`` (``app:limit:`` lies inside the rate-limit keys of a
    store on ``app:``, and ``ratelimit:`` inside those of one on ``rate``).
    """
    if found := _IN_LIMIT_KEYS.search(prefix):
        raise SessionConfigError(
            f"the Redis key prefix {prefix!r} holds {found.group(0)!r}, which is where the "
            f"store on {prefix[: found.start()]!r} keeps its rate limits and counters: choose "
            "a prefix without it"
        )
    if _CONFUSABLE.search(prefix):
        raise SessionConfigError(
            f"the Redis key prefix {prefix!r} ends like a user index of another store's keys "
            "('u:=' and no ':' after it); end the prefix with ':' (for example "
            f"{prefix + ':'!r})"
        )


def _glob(text: str) -> str:
    """``text`` as a literal in a ``SCAN MATCH`` pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisAdminOps(SessionStoreBase):
    """The admin primitives of :class:`~.store.RedisSessionStore` (the store provides the
    client, the script runners and the value parser)."""

    key_prefix: str
    _session_prefix: str

    if TYPE_CHECKING:

        @property
        def client(self) -> aioredis.Redis: ...

        def _fail(self, action: str, exc: BaseException) -> SessionStoreUnavailable: ...

        async def _run(self, script: S.Script, keys: Sequence[str], *args: Any) -> Any: ...

        async def _call(
            self, action: str, script: S.Script, keys: Sequence[str], *args: Any
        ) -> Any: ...

        def _record(self, sid: str, raw: Any, now_us: int) -> SessionRecord | None: ...

    # -- by user, by tenant (the indexes answer) -----------------------------------------

    @staticmethod
    def _owner(
        user_id: str, tenant_id: str | None, untenanted_only: bool = False
    ) -> tuple[str, str]:
        """(user tag, tenant tag) for the scripts; the tenant tag is ``""`` for every tenant
        and :data:`~.scripts.NO_TENANT` for none (its index alone: ``untenanted_only``)."""
        if untenanted_only:
            return S.user_tag(user_id), S.tenant_tag(None)
        return S.user_tag(user_id), "" if tenant_id is None else S.tenant_tag(tenant_id)

    def _owner_keys(self, utag: str, ttag: str) -> list[str]:
        """The indexes the by-user scripts start from (the scripts ask for the rest)."""
        if not ttag:
            return [self.key_prefix + "ut:" + utag]
        return S.index_keys(self.key_prefix, ttag, utag)

    async def _clear_user(
        self, user_id: str, tenant_id: str | None, untenanted_only: bool, keep: str | None
    ) -> int:
        """One script, so ``keep`` is checked and the rest deleted atomically."""
        owner = self._owner(user_id, tenant_id, untenanted_only)
        return int(await self._call("clear a user's sessions", A.CLEAR_USER,
                                    self._owner_keys(*owner), *owner, keep or ""))  # fmt: skip

    async def _revoke(self, user_id: str, handle: str, tenant_id: str | None) -> bool:
        owner = self._owner(user_id, tenant_id)
        keys = self._owner_keys(*owner)
        return bool(await self._call("revoke a session", A.REVOKE, keys, *owner, handle))

    async def _name_session(self, session_id: str, handle: str) -> str | None:
        key = self._session_prefix + session_id
        named = await self._call("name a session", S.DEVICE, [key], "", handle)
        return named.decode() if isinstance(named, bytes) else named

    async def _list_user(self, user_id: str, tenant_id: str | None) -> list[SessionRecord]:
        owner = self._owner(user_id, tenant_id)
        flat = await self._call("list a user's sessions", A.OWNED, self._owner_keys(*owner), *owner)
        now = to_us(utcnow())
        records = [self._record(flat[i].decode(), flat[i + 1], now) for i in range(0, len(flat), 2)]
        return [  # an index entry may outlive a rewrite of its session: the value decides
            r for r in records
            if r is not None and r.user_id == user_id and tenant_id in (None, r.tenant_id)
        ]  # fmt: skip

    # -- everything (SCAN) ---------------------------------------------------------------

    async def _scan(self, kind: str) -> AsyncIterator[str]:
        """Every key of one kind (``s:``, ``t:``, ``u:``, ``ut:``) under the prefix: admin only.

        ``SCAN MATCH`` compares text, so ``app:s:*`` also names every key of a store on the
        prefix ``app:s:``, and ``apps:*`` (prefix ``app``) every key of one on ``apps:``. A
        key is this store's only if what follows the kind has the exact shape this store
        writes (:data:`_SHAPES`): the other store's keys carry a kind tag ending in ``:``
        there, which no id or escaped tag can contain.
        """
        shape, start = _SHAPES[kind], len(self.key_prefix) + len(kind)
        async for raw in self.client.scan_iter(
            match=_glob(self.key_prefix + kind) + "*", count=_SCAN_COUNT
        ):
            key = raw.decode()
            if shape.fullmatch(key, start):
                yield key

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

    async def _dump(self, tenant_id: str | None) -> list[SessionRecord]:
        """``SCAN``s without a tenant; a tenant's index answers for one."""
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
        return [r for r in records if tenant_id is None or r.tenant_id == tenant_id]

    async def _tenant_indexes(self, tenant_id: str | None) -> list[str]:
        if tenant_id is not None:
            return [self.key_prefix + "t:" + S.tenant_tag(tenant_id)]
        return [key async for key in self._scan("t:")]

    async def _clear_all(
        self, tenant_id: str | None, batch_size: int, on_progress: ProgressCallback | None
    ) -> int:
        """In batches, each one script."""
        total = 0
        try:
            for index in await self._tenant_indexes(tenant_id):
                tag = index[len(self.key_prefix) + 2 :]
                while True:
                    n, taken = await self._run(A.CLEAR_TENANT_BATCH, [index], tag, batch_size)
                    total += int(n)
                    if on_progress is not None and n:
                        on_progress(total)
                    if int(taken) < batch_size:
                        break
            if tenant_id is None:  # what no index names (evicted indexes), and the indexes
                total += await self._unlink_all("s:")
                # Every process's read cache (SESSION_CACHE=local) forgets everything.
                await self.client.publish(self.key_prefix + "revoked", "*")
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

    async def _delete_expired(self, batch_size: int, on_progress: ProgressCallback | None) -> int:
        """Redis expires the keys itself; this removes the expired index entries (counting
        those of the tenant indexes, one per expired session) in batches. Every instance may
        prune (each batch is atomic), so the leader's cleanup is this too."""
        total = 0
        try:
            for index in await self._tenant_indexes(None):
                while True:
                    n = int(await self._run(A.PRUNE_BATCH, [index], batch_size))
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
