"""``RedisSessionStore``: sessions in Redis, expiring by Redis's own TTL.

Guarantees (the same as the SQL stores'; :mod:`.scripts` says how the keys are laid out):

* a load is one ``GET``; every operation that changes more than one key is one Lua script,
  so it is atomic: ``create`` never overwrites, ``update``/``touch`` never bring back a session
  deleted or expired meanwhile, ``rotate`` moves a session all or nothing, and
  ``clear_sessions_for_user`` racing a ``rotate`` leaves no session behind;
* a session key expires at its expiry (``PXAT`` from the app's clock); reads also check that
  expiry, so a session is never served late even if Redis's clock lags;
* clear/count/list by user and by tenant read per-user and per-tenant sorted sets, never
  ``KEYS``; only the admin-wide operations (everything, cleanup, statistics) ``SCAN``;
* every key written has a TTL; connection errors, timeouts and ``READONLY`` (a failover) are
  :class:`~session_service.errors.SessionStoreUnavailable` (503), the password masked;
* with a ``redis+sentinel://`` URL the Sentinels name the primary whenever a connection is
  opened: during a failover, commands fail (503) until they name the new one.

The admin operations (by user, by tenant, everything, cleanup, statistics): :mod:`.admin`.
A Redis Cluster has a store of its own, each user's keys in one slot (:mod:`..redis_cluster`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis import exceptions as rx
from redis.asyncio.sentinel import Sentinel

from ...errors import SessionConfigError, SessionStoreUnavailable
from ...lifetime_rules import earliest_start
from ...records import SessionRecord, utcnow
from ...settings import (
    DEFAULT_REDIS_KEY_PREFIX,
    SENTINEL_SCHEMES,
    _parse_bool,
    mask_url,
    normalize_db_url,
)
from .._codec import decode_data
from .._delta import Delta, too_large
from ..base import IdTaken
from ..protocol import ProgressCallback
from . import scripts as S
from .admin import EPOCH, FAILURES, US, check_prefix, to_us
from .delta import PATCH, counted_pairs
from .failures import describe
from .limits import RedisLimitStorage
from .pool import BoundedConnectionPool, run_command, run_script, sentinel_client
from .rehash import rehash_keys
from .server import ALLOW_EVICTION, check_server
from .transfer import RedisTransferOps
from .user_keys import UserKeys

#: How many sessions' owners (tenant, user) a store remembers from its loads and writes, so
#: ``touch``, ``patch`` and ``delete``, given only an id, declare the indexes their script
#: changes in one call (a forgotten or stale owner costs one more, :mod:`.scripts`).
_OWNERS_KEPT = 10_000


def _ms(us: int) -> int:
    return -(-us // 1000)  # rounded up: the key never expires before the session does


class RedisSessionStore(RedisTransferOps):
    """Sessions in Redis (``redis://``, ``rediss://``, or ``redis+sentinel://`` and
    ``rediss+sentinel://`` to find the primary through Sentinel); see the module docstring.

    ``.client`` is the ``redis.asyncio.Redis`` of the running event loop and ``.key_prefix``
    the namespace of every key (other features, such as rate limits, build on both). The
    URL's own ``?key_prefix=`` wins over the ``key_prefix`` argument, so one URL always names
    one set of sessions. ``?allow_eviction=true`` accepts a server whose ``maxmemory-policy``
    is not ``noeviction`` (:mod:`.server` says what that risks).
    """

    kind = "redis"
    _limits_in_rotate = True  # in the ROTATE script

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str | None = None,
        max_bytes: int | None = None,
        timeout: float = 5.0,
        **client_options: Any,
    ) -> None:
        kind, normalized = normalize_db_url(url)
        if kind != "redis":
            raise SessionConfigError(f"RedisSessionStore cannot open a {kind} URL")
        parts = urlsplit(normalized)
        query = parse_qsl(parts.query, keep_blank_values=True)
        in_url = [v for k, v in query if k == "key_prefix"]
        prefix = in_url[-1] if in_url else None
        self.key_prefix: str = prefix or key_prefix or DEFAULT_REDIS_KEY_PREFIX
        check_prefix(self.key_prefix)
        allow = [v for k, v in query if k == ALLOW_EVICTION]
        option = f"the URL option {ALLOW_EVICTION}"
        self._allow_eviction = _parse_bool({option: allow[-1] if allow else ""}, option, False)
        ours = ("key_prefix", ALLOW_EVICTION)  # the store's options, not redis-py's
        self._url = urlunsplit(parts._replace(query=urlencode(
            [(k, v) for k, v in query if k not in ours])))  # fmt: skip
        self.display_url = mask_url(normalized)
        self.max_bytes = max_bytes
        # SESSION_DB_TIMEOUT_SECONDS bounds the connect, each command and the wait for a free
        # pooled connection alike.
        client_options.setdefault("socket_timeout", timeout)
        client_options.setdefault("socket_connect_timeout", timeout)
        client_options.setdefault("max_connections", 50)
        client_options.setdefault("timeout", timeout)  # waiting for a free pooled connection
        self._options = client_options
        self._client: aioredis.Redis | None = None
        self._sentinel = parts.scheme.lower() in SENTINEL_SCHEMES
        self._manager: Sentinel | None = None  # the Sentinels asked, with a sentinel URL
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checked = False
        self._session_prefix = self.key_prefix + "s:"
        self._owners: dict[str, tuple[str | None, str | None]] = {}
        self._user_keys = UserKeys(self._session_prefix)  # limited logins in one call

    def __repr__(self) -> str:
        return f"RedisSessionStore({self.display_url!r}, key_prefix={self.key_prefix!r})"

    @property
    def client(self) -> aioredis.Redis:
        """The client for the running event loop (a client's connections belong to one loop,
        so a fresh ``asyncio.run`` gets a fresh client)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._client is None or (loop is not None and loop is not self._loop):
            # Bounded: beyond max_connections a command waits for a free connection (up to
            # the timeout, then 503) instead of failing at once.
            if self._sentinel:
                self._client, self._manager = sentinel_client(self._url, self._options)
            else:
                pool = BoundedConnectionPool.from_url(self._url, **self._options)
                self._client = aioredis.Redis.from_pool(pool)
            self._loop = loop
        return self._client

    def limit_storage(self) -> RedisLimitStorage:
        """Rate limits and counters under this store's key prefix, on its client."""
        return RedisLimitStorage(lambda: self.client, self.key_prefix)

    def _fail(self, action: str, exc: BaseException) -> SessionStoreUnavailable:
        reason = describe(exc)
        if isinstance(exc, rx.ConnectionError | rx.TimeoutError | OSError | TimeoutError):
            return SessionStoreUnavailable(
                f"cannot reach the session database at {self.display_url}: {reason}"
            )
        return SessionStoreUnavailable(
            f"the session database at {self.display_url} failed to {action}: {reason}"
        )

    async def _run(
        self, script: S.Script, keys: Sequence[str], *args: Any, asked: list[Any] | None = None
    ) -> Any:
        if not self._checked:
            await self._first_use()
        now = utcnow()
        us = to_us(now)
        argv = (self.key_prefix, S.INDEX_GRACE_MS, us // 1000, us, *args)
        pool = self.client.connection_pool
        return await run_script(pool, script.sha, script.source, keys, argv, asked)

    async def _call(
        self, action: str, script: S.Script, keys: Sequence[str], *args: Any, asked: Any = None
    ) -> Any:
        try:
            return await self._run(script, keys, *args, asked=asked)
        except FAILURES as exc:
            raise self._fail(action, exc) from exc

    # -- lifecycle -----------------------------------------------------------------------

    async def _check_server(self) -> None:
        """Refuse a cluster, a server too old for the scripts or one that may evict keys
        (:mod:`.server`) with a ``SessionConfigError`` that says how to fix it."""
        try:
            await check_server(self.client, self.display_url, allow_eviction=self._allow_eviction)
        except FAILURES as exc:
            raise self._fail("answer", exc) from exc
        self._checked = True

    async def _first_use(self) -> None:
        """The server check, on a store's first command when nothing (``migrate``, ``ping``,
        ``SessionStoreBackend.connect``) ran it before: once per store, not per request. A
        request meets a refused server as unavailable (503, the reason logged), not a 500, and
        the next request checks again, so a server set right is used without a restart."""
        try:
            await self._check_server()
        except SessionConfigError as exc:
            raise SessionStoreUnavailable(str(exc)) from exc

    async def ping(self) -> None:
        """Raise ``SessionStoreUnavailable`` unless Redis answers (and is usable)."""
        if not self._checked:
            await self._check_server()
            return
        try:
            await self.client.ping()
        except FAILURES as exc:
            raise self._fail("answer", exc) from exc

    async def migrate(self, *, on_progress: ProgressCallback | None = None) -> None:
        """Checks the server (version, no cluster), then files every session of the previous
        layout under its hashed id (:mod:`.rehash`: resumable, idempotent)."""
        await self._check_server()
        try:
            await rehash_keys(self.client, self.key_prefix, self._scan, on_progress)
        except FAILURES as exc:
            raise self._fail("migrate the session keys", exc) from exc

    async def close(self) -> None:
        """Release the connections; the store reconnects if it is used again."""
        client, self._client = self._client, None
        manager, self._manager = self._manager, None
        if self._loop is asyncio.get_running_loop():
            if client is not None:
                await client.aclose()
            if manager is not None:
                await manager.aclose()

    # -- one session (primitives: the record is checked and encoded already) -----------------

    @staticmethod
    def _args(record: SessionRecord, data: str) -> tuple[Any, ...]:
        """exp_us, exp_ms, tenant tag, user tag, data, then ip, user agent, last_seen_us,
        handle ('' for none): what the write scripts take."""
        exp = to_us(record.expiry_date)
        seen = "" if record.last_seen is None else str(to_us(record.last_seen))
        return (exp, _ms(exp), S.tenant_tag(record.tenant_id), S.user_tag(record.user_id), data,
                record.ip or "", record.user_agent or "", seen, record.handle or "")  # fmt: skip

    def _record(self, sid: str, raw: Any, now_us: int) -> SessionRecord | None:
        """The session in ``raw``, or ``None`` if it has expired by the app's clock."""
        if raw[:1] == b"1":  # written before the device fields
            _v, exp, created, updated, ttag, utag, data = raw.split(b"\0", 6)
            ip = agent = seen = handle = b""
        else:
            _v, exp, created, updated, ttag, utag, ip, agent, seen, handle, data = raw.split(
                b"\0", 10
            )
        exp_us = int(exp)
        if exp_us <= now_us:
            return None
        return SessionRecord(
            sid,
            decode_data(data),
            EPOCH + exp_us * US,
            S.untag(utag.decode()),
            S.untag(ttag.decode()),
            created_at=EPOCH + int(created) * US,
            updated_at=EPOCH + int(updated) * US,
            ip=ip.decode() or None,
            user_agent=agent.decode() or None,
            last_seen=EPOCH + int(seen) * US if seen else None,
            handle=handle.decode() or None,
        )

    def _remember(self, session_id: str, tenant_id: str | None, user_id: str | None) -> None:
        owners = self._owners
        if len(owners) >= _OWNERS_KEPT and session_id not in owners:
            del owners[next(iter(owners))]  # the oldest remembered
        owners[session_id] = (tenant_id, user_id)

    def _declared(self, session_id: str, *new_user: str | None) -> list[str]:
        """The session's key and, when this store remembers its owner, its indexes (with a
        ``new_user``, that user's in the same tenant too)."""
        key = self._session_prefix + session_id
        owner = self._owners.get(session_id)
        if owner is None:
            return [key]
        ttag = S.tenant_tag(owner[0])
        keys = [key, *S.index_keys(self.key_prefix, ttag, S.user_tag(owner[1]))]
        if new_user and new_user[0] != owner[1]:
            keys += S.index_keys(self.key_prefix, ttag, S.user_tag(new_user[0]))[1:]
        return keys

    async def _load(self, session_id: str) -> SessionRecord | None:
        """One ``GET``."""
        if not self._checked:
            await self._first_use()
        try:
            raw = await run_command(
                self.client.connection_pool, "GET", self._session_prefix + session_id
            )
        except FAILURES as exc:
            raise self._fail("load a session", exc) from exc
        if raw is None:
            return None
        record = self._record(session_id, raw, to_us(utcnow()))
        if record is not None:
            self._remember(session_id, record.tenant_id, record.user_id)
        return record

    async def _write(self, mode: str, record: SessionRecord, data: str, extend: bool) -> int:
        args = self._args(record, data)
        keys = [self._session_prefix + record.id, *S.index_keys(self.key_prefix, *args[2:4])]
        flag = "1" if extend else "0"
        done = int(await self._call(f"{mode} a session", S.WRITE, keys, mode, record.id,
                                    *args[:5], flag, *args[5:], self.max_per_user))  # fmt: skip
        if done:
            self._remember(record.id, record.tenant_id, record.user_id)
            self._signed_out(done - 1)
        return done

    async def _insert(self, record: SessionRecord, data: str) -> None:
        """``SET NX`` in a script (an id still in a tenant index counts as taken, as an
        expired row not yet cleaned does in SQL)."""
        if not await self._write("create", record, data, True):
            raise IdTaken

    async def _save(self, record: SessionRecord, data: str) -> None:
        await self._write("save", record, data, True)

    async def _update(self, record: SessionRecord, data: str, extend_expiry: bool) -> bool:
        return bool(await self._write("update", record, data, extend_expiry))

    async def _patch(self, session_id: str, delta: Delta, expiry_date: datetime | None) -> bool:
        """One script merges the changes into the stored JSON (:mod:`.delta`)."""
        exp: int | str = ""
        exp_ms: int | str = ""
        if expiry_date is not None:
            exp = to_us(expiry_date)
            exp_ms = _ms(exp)
        limit = "" if self.max_bytes is None else self.max_bytes
        owner = ("1", S.user_tag(delta.owner)) if delta.owner_changes else ("0", "")
        keys = self._declared(session_id, *((delta.owner,) if delta.owner_changes else ()))
        done = int(await self._call("save a session", PATCH, keys, session_id, exp, exp_ms,
                                    *owner, limit, *counted_pairs(delta),
                                    *delta.removed_json))  # fmt: skip
        if done < 0:
            assert self.max_bytes is not None
            raise too_large(-done, self.max_bytes)
        stored = self._owners.get(session_id)
        if done == 1 and delta.owner_changes and stored is not None:
            self._remember(session_id, stored[0], delta.owner)
        if done == 1 and self.max_per_user and delta.owner_changes and delta.owner is not None:
            self._signed_out(await self._call("sign out a user's extra sessions", S.EVICT_EXTRA,
                                              self._declared(session_id), session_id,
                                              self.max_per_user))  # fmt: skip
        return done == 1

    async def _touch(
        self, session_id: str, expiry_date: datetime, last_seen: datetime | None
    ) -> bool:
        exp = to_us(expiry_date)
        seen = "" if last_seen is None else to_us(last_seen)
        return bool(await self._call("extend a session", S.TOUCH, self._declared(session_id),
                                     session_id, exp, _ms(exp), seen))  # fmt: skip

    async def _seen(self, session_id: str, when: datetime) -> bool:
        """``last_seen`` alone, the TTL kept."""
        key = self._session_prefix + session_id
        done = await self._call("record a session's last use", S.DEVICE, [key], to_us(when), "")
        return done is not None

    async def _rotate(self, old_id: str, record: SessionRecord, data: str) -> bool:
        args = self._args(record, data)
        keys = [self._session_prefix + old_id, self._session_prefix + record.id,
                *S.index_keys(self.key_prefix, *args[2:4])]  # fmt: skip
        old = self._owners.pop(old_id, None)
        if old is not None and old != (record.tenant_id, record.user_id):
            keys += S.index_keys(self.key_prefix, S.tenant_tag(old[0]), S.user_tag(old[1]))[:2]
        limit = self.max_per_user if args[3] else 0
        # With the limit, the keys of the user's sessions this store knows (:mod:`.user_keys`),
        # which the script reads once the user has ``limit``: one call, not two.
        asked: list[Any] | None = None
        index = keys[3] if limit else ""
        if limit:
            asked = []
            keys += self._user_keys.get(index)
        start = earliest_start(self.absolute_ttl, utcnow())
        done = int(await self._call("rotate a session id", S.ROTATE, keys, old_id, record.id,
                                    *args, self.max_per_user,
                                    0 if start is None else to_us(start), asked=asked))  # fmt: skip
        if done < 0:
            raise IdTaken
        if done > 0:
            self._remember(record.id, record.tenant_id, record.user_id)
            self._signed_out(done - 1)
            if asked is not None:
                self._user_keys.learn(index, keys[1], keys[0], asked, limit)
        return done > 0

    async def _evict_extra(self, keep: str, limit: int) -> int:
        """Nothing: ``WRITE``, ``ROTATE`` and :meth:`_patch` apply it (:mod:`.evict`)."""
        return 0

    async def _delete(self, session_id: str) -> None:
        keys = self._declared(session_id)
        self._owners.pop(session_id, None)
        await self._call("delete a session", S.DELETE, keys, session_id)
