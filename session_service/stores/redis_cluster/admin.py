"""The cluster store's admin side. By user, one script in the user's slot answers
(:mod:`.scripts`); across users (by tenant, everything, cleanup, statistics, dump) every
primary is visited with ``SCAN`` (never ``KEYS``), a batch of keys at a time, each change one
script on one key's slot, so an interrupted run leaves every session whole or gone."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from ...records import SessionRecord, utcnow
from ..protocol import ProgressCallback, StoreStats
from ..redis import scripts as S1
from ..redis.admin import _glob, to_us
from . import scripts as S
from .client import FAILURES
from .moves import _ATTEMPTS

if TYPE_CHECKING:
    from redis.asyncio.cluster import RedisCluster

    from ...errors import SessionStoreUnavailable

_SCAN_COUNT = 1000
#: What follows the prefix: a user's hash tag then ``s:<id>`` (a signed-in session) or ``u``
#: (the user's index); a bucket's then ``i:<id>`` (an id key) or ``a`` (the bucket's index);
#: a slot tag's then ``s:<id>`` (a signed-in session, :mod:`.slots`).
_SHAPE = re.compile(
    r"\{(=[^{}]*)\}(?:(s):([^:{}]*)|(u)())|\{(#[0-9a-f]{3})\}(?:i:([^:{}]*)|(a))"
    r"|\{@([A-Za-z0-9_-]{3})\}s:([^:{}]*)"
)
_UNESCAPES = re.compile("%(25|3A|7B|7D)")
_BACK = {"25": "%", "3A": ":", "7B": "{", "7D": "}"}


def kunesc(value: str) -> str:
    return _UNESCAPES.sub(lambda m: _BACK[m.group(1)], value)


def _loc(utag: str, tag: bytes | str) -> str:
    """The loc (:mod:`.moves`) of a user's session filed under slot tag ``tag`` ('' none)."""
    tag = tag.decode() if isinstance(tag, bytes) else tag
    return "@" + tag + utag if tag else utag


class ClusterAdminOps:
    """The admin primitives of :class:`~.store.RedisClusterSessionStore`."""

    key_prefix: str

    if TYPE_CHECKING:

        @property
        def client(self) -> RedisCluster: ...

        def _fail(self, action: str, exc: BaseException) -> SessionStoreUnavailable: ...

        async def _run(self, script: S1.Script, keys: Sequence[str], *args: Any) -> Any: ...

        async def _call(
            self, action: str, script: S1.Script, keys: Sequence[str], *args: Any
        ) -> Any: ...

        async def _command(self, *args: Any) -> Any: ...

        def _record(self, sid: str, raw: Any, now_us: int) -> SessionRecord | None: ...

        def _id_key(self, session_id: str) -> str: ...

        def _user_base(self, utag: str) -> str: ...

        async def _where(self, action: str, session_id: str) -> tuple[str, str, bytes | None]: ...

        async def _drop_id(self, action: str, session_id: str, expected: str) -> None: ...

        def _index(self, session_id: str, loc: str) -> str: ...

        def _key(self, session_id: str, loc: str) -> str: ...

        def _member_loc(self, utag: str, member: str) -> tuple[str, str, str]: ...

        async def _sessions_of(self, utag: str) -> list[str]: ...

        async def _first_use(self) -> None: ...

        _checked: bool

    # -- by user: one script in the user's slot ----------------------------------------------

    def _owner(
        self, user_id: str, tenant_id: str | None, untenanted_only: bool = False
    ) -> tuple[str, str]:
        """(user tag, tenant tag: '' for every tenant) for the per-user scripts."""
        if untenanted_only:
            return S1.user_tag(user_id), S1.tenant_tag(None)
        return S1.user_tag(user_id), "" if tenant_id is None else S1.tenant_tag(tenant_id)

    async def _per_user(
        self, action: str, script: S1.Script, utag: str, *args: Any, keep: str = ""
    ) -> Any:
        """A per-user script given the user's index and every session it names (read first);
        it answers "look again" (and changed nothing) if the index named another by then."""
        index = self._index("", utag)
        for _ in range(_ATTEMPTS):
            keys = [index, index, *await self._sessions_of(utag)]
            if keep:
                keys.append(self._user_base(utag) + "s:" + S.kesc(keep))
            done = await self._call(action, script, keys, utag, *args)
            if done != S.LOOK_AGAIN:
                return done
        raise self._fail(action, RuntimeError("the user's sessions kept changing"))

    async def _clear_user(
        self, user_id: str, tenant_id: str | None, untenanted_only: bool, keep: str | None
    ) -> int:
        utag, ttag = self._owner(user_id, tenant_id, untenanted_only)
        action = "clear a user's sessions"
        n, gone, tags = await self._per_user(
            action, S.CLEAR_USER, utag, ttag, keep or "", keep=keep or ""
        )
        # their id keys (one per session, spread over the primaries) point to nothing now:
        # tidy them up side by side, so a user's sign-out costs about one round trip per node
        await asyncio.gather(*(
            self._drop_id(action, sid.decode(), ">" + _loc(utag, tag))
            for sid, tag in zip(gone, tags, strict=True)
        ))  # fmt: skip
        return int(n)

    async def _revoke(self, user_id: str, handle: str, tenant_id: str | None) -> bool:
        utag, ttag = self._owner(user_id, tenant_id)
        gone = await self._per_user("revoke a session", S.REVOKE, utag, ttag, handle)
        if not gone:
            return False
        sid, tag = gone
        await self._drop_id("revoke a session", sid.decode(), ">" + _loc(utag, tag))
        return True

    async def _name_session(self, session_id: str, handle: str) -> str | None:
        key, loc, raw = await self._where("name a session", session_id)
        if raw is None:
            return None
        keys = [key, self._index(session_id, loc)]
        named = await self._call("name a session", S.DEVICE, keys, "", handle)
        return named.decode() if isinstance(named, bytes) else named

    async def _list_user(self, user_id: str, tenant_id: str | None) -> list[SessionRecord]:
        utag, ttag = self._owner(user_id, tenant_id)
        (flat,) = await self._per_user("list a user's sessions", S.OWNED, utag, ttag)
        now = to_us(utcnow())
        records = [self._record(flat[i].decode(), flat[i + 1], now) for i in range(0, len(flat), 2)]
        return [
            r for r in records
            if r is not None and r.user_id == user_id and tenant_id in (None, r.tenant_id)
        ]  # fmt: skip

    # -- across users: every primary ---------------------------------------------------------

    async def _batches(self) -> AsyncIterator[list[tuple[str, re.Match[str]]]]:
        """Every key of this store, a ``SCAN`` batch at a time, primary by primary, with the
        parts of its shape (keys of a store on a longer prefix do not match it)."""
        if not self._checked:
            await self._first_use()
        pattern = _glob(self.key_prefix) + "{*"
        start = len(self.key_prefix)
        await self.client.initialize()  # a fresh client knows no node yet (no-op otherwise)
        for node in self.client.get_primaries():
            cursor: Any = 0
            while True:
                cursor, raw = await self.client.scan(
                    cursor, match=pattern, count=_SCAN_COUNT, target_nodes=node
                )
                if isinstance(cursor, dict):  # redis-py names each node's cursor
                    cursor = cursor.get(node.name, 0)
                batch = []
                for item in raw:
                    key = item.decode() if isinstance(item, bytes) else item
                    if found := _SHAPE.fullmatch(key, start):
                        batch.append((key, found))
                if batch:
                    yield batch
                if not int(cursor):
                    break

    async def _values(
        self, batch: list[tuple[str, re.Match[str]]]
    ) -> list[tuple[str, str, str, bytes]]:
        """(key, session id, its loc, value) of each session value in ``batch``."""
        keys = [(key, m) for key, m in batch if m.group(2) or m.group(7) is not None or m.group(9)]
        values = await self.client.mget_nonatomic([key for key, _ in keys])
        out = []
        for (key, m), value in zip(keys, values, strict=True):
            if value is None or value[:1] == b">":
                continue
            if m.group(9):  # the user is in the value (its 6th field)
                loc = "@" + m.group(9) + value.split(b"\0", 6)[5].decode()
                out.append((key, kunesc(m.group(10)), loc, value))
            elif m.group(2):
                out.append((key, kunesc(m.group(3)), kunesc(m.group(1)), value))
            else:
                out.append((key, kunesc(m.group(7)), "", value))
        return out

    @staticmethod
    def _index_of(m: re.Match[str]) -> str | None:
        """The user tag of a user's index, '' for a bucket's, ``None`` for another key."""
        if m.group(4):
            return kunesc(m.group(1))
        return "" if m.group(8) else None

    async def _dump(self, tenant_id: str | None) -> list[SessionRecord]:
        out: list[SessionRecord] = []
        try:
            now = to_us(utcnow())
            async for batch in self._batches():
                for _, sid, _, value in await self._values(batch):
                    record = self._record(sid, value, now)
                    if record is not None and tenant_id in (None, record.tenant_id):
                        out.append(record)
        except FAILURES as exc:
            raise self._fail("dump sessions", exc) from exc
        return out

    async def _clear_all(
        self, tenant_id: str | None, batch_size: int, on_progress: ProgressCallback | None
    ) -> int:
        """Every primary, a batch at a time, twice: first each session taken by one script on
        its slot (with its index entry) and its id key dropped; then the index entries of
        expired sessions (counted, as SQL counts expired rows) and, without a tenant, every
        key left (indexes, pointers)."""
        want = None if tenant_id is None else S1.tenant_tag(tenant_id)
        action = "clear sessions"
        total = 0

        def done(n: int) -> None:
            nonlocal total
            total += n
            if on_progress is not None and n:
                on_progress(total)

        try:
            async for found in self._batches():
                for start in range(0, len(found), batch_size):
                    taken = [
                        self._clear_one(action, key, sid, utag)
                        for key, sid, utag, value in await self._values(
                            found[start : start + batch_size]
                        )
                        if want is None or value.split(b"\0", 5)[4].decode() == want
                    ]
                    # a batch's sessions side by side (each its own scripts, on its own slots):
                    # one round trip per session in a row made a million take a quarter hour
                    await asyncio.gather(*taken)
                    done(len(taken))
            async for found in self._batches():
                n = 0
                for key, m in found:
                    owner = self._index_of(m)
                    if owner is None or (want is None) != (owner == ""):
                        continue  # every tenant: the buckets count; one: its users' indexes
                    n += await self._forget_gone(key, owner, want)
                if want is None:
                    await asyncio.gather(*(self._command("UNLINK", key) for key, _ in found))
                done(n)
        except FAILURES as exc:
            raise self._fail(action, exc) from exc
        return total

    async def _clear_one(self, action: str, key: str, sid: str, loc: str) -> None:
        """One session gone: its value with its index entry, then its id key's pointer."""
        await self._run(S.TAKE, [key, self._index(sid, loc)], sid, "")
        if loc:
            await self._drop_id(action, sid, ">" + loc)

    async def _forget_gone(self, index: str, utag: str, tenant: str | None = None) -> int:
        """Remove from an index (of ``tenant`` alone, if given) the entries whose session has
        gone (expired); how many."""
        gone = 0
        for raw in await self._command("ZRANGE", index, 0, -1):
            entry = raw.decode()
            if utag:
                ttag, sid, loc = self._member_loc(utag, entry)
                key = self._key(sid, loc)
            else:
                ttag, key = "", index[:-1] + "i:" + S.kesc(entry)
            if tenant is not None and ttag != tenant:
                continue
            if not int(await self._command("EXISTS", key)):
                await self._command("ZREM", index, entry)
                gone += 1
        return gone

    async def _prune(self, index: str, utag: str, batch_size: int) -> int:
        """One batch of expired entries off an index, in one script given their keys."""
        base = index[:-1] + "i:"
        for _ in range(_ATTEMPTS):
            now = to_us(utcnow()) // 1000
            found = await self._command("ZRANGEBYSCORE", index, "-inf", now, "LIMIT", 0, batch_size)
            if utag:
                ids = [self._key(*self._member_loc(utag, e.decode())[1:]) for e in found]
            else:
                ids = [base + S.kesc(e.decode()) for e in found]
            keys = [index, index, *ids]
            n = int(await self._run(S.PRUNE_BATCH, keys, batch_size, utag))
            if n != S.LOOK_AGAIN:
                return n
        return 0

    async def _delete_expired(self, batch_size: int, on_progress: ProgressCallback | None) -> int:
        """Redis expires the keys itself; this removes the expired entries of the users'
        indexes on every primary, in batches (counting them, one per expired session)."""
        total = 0
        try:
            async for batch in self._batches():
                for key, m in batch:
                    utag = self._index_of(m)
                    if utag is None:
                        continue
                    while True:
                        n = await self._prune(key, utag, batch_size)
                        if utag:  # a user's index: its sessions are in the buckets too
                            if n < batch_size:
                                break
                            continue
                        total += n
                        if on_progress is not None and n:
                            on_progress(total)
                        if n < batch_size:
                            break
        except FAILURES as exc:
            raise self._fail("delete expired sessions", exc) from exc
        return total

    async def stats(self) -> StoreStats:
        """Totals from every primary: live = stored values live by the app's clock, expired =
        those past it plus the users' index entries past it (not cleaned yet)."""
        live = expired = 0
        per_tenant: dict[str | None, int] = {}
        users: set[str] = set()
        try:
            now = to_us(utcnow())
            async for batch in self._batches():
                for _, sid, _, value in await self._values(batch):
                    record = self._record(sid, value, now)
                    if record is None:  # its index entry counts it
                        continue
                    live += 1
                    per_tenant[record.tenant_id] = per_tenant.get(record.tenant_id, 0) + 1
                    if record.user_id is not None:
                        users.add(record.user_id)
                for key, m in batch:
                    if m.group(8):
                        expired += int(await self._command("ZCOUNT", key, "-inf", now // 1000))
        except FAILURES as exc:
            raise self._fail("compute statistics", exc) from exc
        return StoreStats(live + expired, live, expired, len(users), per_tenant)
