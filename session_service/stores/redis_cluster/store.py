"""``RedisClusterSessionStore``: the Redis store on a Redis Cluster (``redis+cluster://``).

It keeps the single-node store's values, rules and errors (:mod:`..redis.store`) and changes
where keys live (:mod:`.scripts`): an anonymous session in its id's slot, a signed-in one in
its user's slot with the user's indexes, its id key pointing there. So:

* a load by id is one ``GET`` for an anonymous session, and for a signed-in one whose id
  carries its slot's tag (a rotate into a user gives it one, and so does :meth:`new_id`,
  which the middleware asks for every session it creates, :mod:`.slots`): the value is read
  where the tag says. Any other signed-in id (a free untagged id given to ``create``, a
  session made before slot tags) costs two: the id key's pointer, then the value;
* each operation on one user's sessions (create, rotate within the user, clear-by-user,
  revoke by handle, sign out other devices, the per-user cap) is one script in the user's
  slot, atomic as on one node;
* a session changing slot (an anonymous session signing in, a change of owner) is moved in
  steps, each atomic: the old copy is taken first (so a fixated pre-login id never survives),
  then written in its new slot; a failure between them loses that session (the user signs in
  again), never resurrects one;
* work across users (by tenant, everything, cleanup, statistics, export) visits every
  primary (:mod:`.admin`, :mod:`.transfer`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from redis import exceptions as rx
from redis.asyncio.cluster import RedisCluster

from ...errors import SessionConfigError, SessionDataError, SessionStoreUnavailable
from ...records import SessionRecord, user_id_of, utcnow
from .._codec import encode_json
from .._delta import Delta, too_large
from ..protocol import ProgressCallback
from ..redis import scripts as S1
from ..redis.admin import to_us
from ..redis.delta import counted_pairs
from ..redis.limits import RedisLimitStorage
from ..redis.server import check_server
from ..redis.store import _ms
from . import scripts as S
from .admin import ClusterAdminOps
from .client import FAILURES, Turns, cluster_client, describe, run_script
from .slots import SEPARATOR, owner, tag_of, tagged, user_slot
from .transfer import ClusterTransferOps


class RedisClusterSessionStore(ClusterAdminOps, ClusterTransferOps):
    """Sessions on a Redis Cluster (``redis+cluster://host:port[,host:port…]`` or
    ``rediss+cluster://`` for TLS); see the module docstring. ``.client`` is the
    ``redis.asyncio.RedisCluster`` of the running event loop."""

    kind = "redis_cluster"
    #: The store's ``db.system.name`` in its metrics (docs/operations.md, "Metrics").
    db_system_name = "redis"
    _limits_in_rotate = True

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        if "{" in self.key_prefix or "}" in self.key_prefix:
            raise SessionConfigError(
                f"the Redis key prefix {self.key_prefix!r} holds a brace: on a Redis Cluster "
                "a brace starts a hash tag, which would put every key in one slot; choose a "
                "prefix without { and }"
            )
        self._cluster: RedisCluster | None = None
        self._turns: Turns | None = None

    def __repr__(self) -> str:
        return f"RedisClusterSessionStore({self.display_url!r}, key_prefix={self.key_prefix!r})"

    @property
    def client(self) -> RedisCluster:  # type: ignore[override]
        """The cluster client for the running event loop."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._cluster is None or (loop is not None and loop is not self._loop):
            options = dict(self._options)
            limit = int(options.get("max_connections", 50))
            self._turns = Turns(limit, float(options.get("timeout", 5.0)))
            self._cluster = cluster_client(self._url, options)
            self._loop = loop
        return self._cluster

    @property
    def turns(self) -> Turns:
        self.client  # noqa: B018 - makes the client and its turns for this loop
        assert self._turns is not None
        return self._turns

    def limit_storage(self) -> RedisLimitStorage:
        """Rate limits and counters: each key one slot, so every script works as on one node."""
        return RedisLimitStorage(lambda: self.client, self.key_prefix, run=self._limit_script)

    async def _limit_script(self, client: Any, sha: str, source: str, keys: Any, args: Any) -> Any:
        async with self.turns:
            try:
                return await run_script(client, sha, source, keys, args)
            except rx.RedisClusterException as exc:  # as a RedisError, for the limits' 503
                raise rx.ConnectionError(describe(exc) or str(exc)) from exc

    def _fail(self, action: str, exc: BaseException) -> SessionStoreUnavailable:
        reason = describe(exc)
        if reason is None:
            return super()._fail(action, exc)
        return SessionStoreUnavailable(
            f"the session database at {self.display_url} failed to {action}: {reason}"
        )

    async def _call(
        self, action: str, script: S1.Script, keys: Any, *args: Any, asked: Any = None
    ) -> Any:
        """``asked`` is the single node's (its limited logins, :mod:`..redis.user_keys`); the
        cluster's logins are its own (:mod:`.moves`) and never pass it."""
        try:
            return await self._run(script, keys, *args)
        except FAILURES as exc:
            raise self._fail(action, exc) from exc

    async def _command(self, *args: Any) -> Any:
        async with self.turns:  # the first use's server check takes a turn too
            if not self._checked:
                await self._first_use()
            return await self.client.execute_command(*args)

    async def _run(self, script: S1.Script, keys: Any, *args: Any, asked: Any = None) -> Any:
        async with self.turns:
            if not self._checked:
                await self._first_use()
            us = to_us(utcnow())
            argv = (self.key_prefix, S1.INDEX_GRACE_MS, us // 1000, us, *args)
            return await run_script(self.client, script.sha, script.source, keys, argv)

    async def _check_server(self) -> None:
        """Every primary: version and eviction policy as on one node (a cluster is wanted)."""
        try:
            await self.client.initialize()  # learns the nodes (once per client)
            for node in self.client.get_primaries():
                await check_server(
                    _OnNode(self.client, node),
                    self.display_url,
                    allow_eviction=self._allow_eviction,
                )
        except FAILURES as exc:
            raise self._fail("answer", exc) from exc
        self._checked = True

    async def ping(self) -> None:
        if not self._checked:
            await self._check_server()
            return
        try:
            await self._command("PING")
        except FAILURES as exc:
            raise self._fail("answer", exc) from exc

    async def migrate(self, *, on_progress: ProgressCallback | None = None) -> None:
        """Checks the cluster. Nothing to move: this store came after ids were hashed
        (docs/operations.md), so a cluster never held a session under its id."""
        await self._check_server()

    async def close(self) -> None:
        client, self._cluster = self._cluster, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()

    # -- one session -------------------------------------------------------------------------

    def _load_id(self, session_id: str, key: str) -> Coroutine[Any, Any, SessionRecord | None]:
        """An id with a slot tag reads its value where the tag says (:mod:`.slots`); any other
        id, by its id key (:meth:`_load`)."""
        if session_id[-4:-3] == SEPARATOR and (stag := tag_of(session_id)) is not None:
            return self._load_tagged(key, stag)
        return self._load(key)

    async def _load_tagged(self, session_id: str, stag: str) -> SessionRecord | None:
        """One ``GET`` of ``P{@<tag>}s:<id>``. A miss is looked up by the id key: a session
        moved since (a change of owner without a new id, an import) is found there, a gone
        one is not; an edited tag names another hash, so it misses either way."""
        try:
            raw = await self._command("GET", self._key(session_id, "@" + stag))
        except FAILURES as exc:
            raise self._fail("load a session", exc) from exc
        if raw is None:
            return await self._load(session_id)
        return self._record(session_id, raw, to_us(utcnow()))

    async def _load(self, session_id: str) -> SessionRecord | None:
        """One ``GET`` (anonymous), or two (the pointer, then the value in the user's slot)."""
        key, loc, raw = await self._where("load a session", session_id)
        if raw is not None and loc:
            try:
                raw = await self._command("GET", key)
            except FAILURES as exc:
                raise self._fail("load a session", exc) from exc
        if raw is None or raw[:1] == b">":
            return None
        return self._record(session_id, raw, to_us(utcnow()))

    async def _patch(self, session_id: str, delta: Delta, expiry_date: datetime | None) -> bool:
        key, loc, raw = await self._where("save a session", session_id)
        if raw is None:
            return False
        if delta.owner_changes and S1.user_tag(delta.owner) != owner(loc):
            return await self._patch_moving(session_id, delta, expiry_date)
        exp: int | str = ""
        exp_ms: int | str = ""
        if expiry_date is not None:
            exp = to_us(expiry_date)
            exp_ms = _ms(exp)
        limit = "" if self.max_bytes is None else self.max_bytes
        new_owner = ("1", owner(loc)) if delta.owner_changes else ("0", "")
        keys = [key, self._index(session_id, loc)]
        done = int(await self._call("save a session", S.PATCH, keys, session_id, exp, exp_ms,
                                    *new_owner, limit, *counted_pairs(delta),
                                    *delta.removed_json))  # fmt: skip
        if done < 0:
            assert self.max_bytes is not None
            raise too_large(-done, self.max_bytes)
        if done == 1 and loc and exp_ms != "":
            await self._point("save a session", session_id, loc, exp_ms)
        return done == 1

    async def _patch_moving(
        self, session_id: str, delta: Delta, expiry_date: datetime | None
    ) -> bool:
        """A patch that changes the owner moves the session to another slot: merged here
        (the stored JSON decoded and encoded by the same encoder keeps every other value),
        then written as an update, which moves it."""
        record = await self._load(session_id)
        if record is None:
            return False
        stored = json.loads(encode_json(record.data))
        for key_json, value_json in delta.entries:
            stored[json.loads(key_json)] = json.loads(value_json)
        for removed in delta.removed_json:
            stored.pop(json.loads(removed), None)
        record.user_id = delta.owner
        if expiry_date is not None:
            record.expiry_date = expiry_date
        data = encode_json(stored, self.max_bytes)
        return bool(await self._save_or_update("update", record, data, expiry_date is not None))

    async def _touch(
        self, session_id: str, expiry_date: datetime, last_seen: datetime | None
    ) -> bool:
        exp = to_us(expiry_date)
        seen = "" if last_seen is None else to_us(last_seen)
        key, loc, raw = await self._where("extend a session", session_id)
        if raw is None:
            return False
        keys = [key, self._index(session_id, loc)]
        done = bool(await self._call("extend a session", S.TOUCH, keys, session_id, exp,
                                     _ms(exp), seen))  # fmt: skip
        if done and loc:
            await self._point("extend a session", session_id, loc, _ms(exp))
        return done

    async def _seen(self, session_id: str, when: datetime) -> bool:
        key, loc, raw = await self._where("record a session's last use", session_id)
        if raw is None:
            return False
        keys = [key, self._index(session_id, loc)]
        done = await self._call("record a session's last use", S.DEVICE, keys, to_us(when), "")
        return done is not None

    async def _evict_extra(self, keep: str, limit: int) -> int:
        return 0

    # -- ids naming their slot (:mod:`.slots`) -----------------------------------------------

    def _slot_id(self, session_id: str, user_id: str | None) -> str:
        """``session_id`` with the slot tag of ``user_id``'s keys (unchanged when anonymous)."""
        if user_id is None:
            return session_id
        return tagged(session_id, user_slot(S.kesc(S1.user_tag(user_id))))

    #: The id :meth:`new_id` drew last and the user it was tagged for. A login draws its id
    #: (the middleware) and rotates into it at once, with no ``await`` between: ``rotate``
    #: finds that pair and keeps the id, already tagged, instead of tagging it again.
    _drawn: tuple[str, str | None] = ("", None)

    async def rotate(self, old_id: str, record: SessionRecord) -> bool:
        """As every store's, and the new id of a signed-in session ends with its slot's tag
        (read ``record.id`` after, as after any rotate)."""
        user = _user_of(record)
        if (record.id, user) != self._drawn:  # not the id new_id just drew for this user
            record.id = self._slot_id(record.id, user)
        return await super().rotate(old_id, record)

    def new_id(self, record: SessionRecord) -> str:
        """A fresh id with the slot tag of the user ``record`` binds its session to (none
        when anonymous): the middleware asks it for every session it creates, so one created
        already signed in reads in one ``GET`` as a login's does. (A free id given to
        ``create`` is kept as it is, as every store keeps it; ``rotate`` tags its own.)"""
        user = _user_of(record)
        drawn = self._slot_id(super().new_id(record), user)
        self._drawn = (drawn, user)
        return drawn


def _user_of(record: SessionRecord) -> str | None:
    """The user a record binds its session to (``None`` also for one the rules will refuse:
    they say why)."""
    try:
        return user_id_of(record.data)
    except SessionDataError:
        return None


class _OnNode:
    """The two commands :func:`..redis.server.check_server` sends, on one cluster node."""

    def __init__(self, client: RedisCluster, node: Any) -> None:
        self._client, self._node = client, node

    async def info(self, section: str) -> Any:
        info = await self._client.info(section, target_nodes=self._node)
        if section == "cluster":
            return {"cluster_enabled": "0"}  # a cluster is what this store wants
        return info

    async def config_get(self, name: str) -> Any:
        return await self._client.config_get(name, target_nodes=self._node)
