"""Store hardening: what an attacker or an operator could hit in the stores.

* two Redis stores on nested key prefixes (``app:`` and ``app:s:``, ``app`` and ``apps:``)
  never see, count, clean or delete each other's sessions, indexes, limits or counters;
* a Redis server that may evict keys (any ``maxmemory-policy`` but ``noeviction``) is refused
  at start-up and by ``migrate`` unless the URL opts out, read from ``CONFIG GET`` or, where
  ``CONFIG`` is disabled (managed services), from ``INFO memory``. Those tests start a
  throwaway ``redis-server`` of their own: the shared server's settings are never changed.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from session_service import SessionRecord, SessionStoreBackend
from session_service.errors import SessionConfigError, SessionStoreUnavailable
from session_service.limits.core import Counters, RateLimiter
from session_service.limits.storage import storage_for
from session_service.records import new_session_id, utcnow
from session_service.stores.redis import RedisSessionStore

from ..conftest import redis_keys_without_ttl_then_delete


def _record(user: str, *, tenant: str | None = None, hours: float = 1) -> SessionRecord:
    expiry = utcnow() + timedelta(hours=hours)
    return SessionRecord(new_session_id(), {"user_id": user}, expiry, tenant_id=tenant)


# -- nested Redis prefixes ------------------------------------------------------------------

#: (outer, inner) suffixes of one random base: ``app:`` holds ``app:s:``'s keys as a string
#: prefix, and ``app`` holds ``apps:``'s (no trailing colon).
NESTED = [
    ("app:", "app:s:"),
    ("app", "apps:"),
    ("app:", "app:u:"),
    ("app:", "app:u:=x:"),
    ("app", "appt:"),
    ("app", "appu:-"),
]


@pytest.fixture(params=NESTED, ids=lambda p: f"{p[0]}|{p[1]}")
async def nested(
    request: pytest.FixtureRequest, redis_server_url: str
) -> AsyncIterator[tuple[RedisSessionStore, RedisSessionStore]]:
    base = f"sstest_{secrets.token_hex(6)}_"
    outer_suffix, inner_suffix = request.param
    urls = [f"{redis_server_url}?key_prefix={base}{s}" for s in (outer_suffix, inner_suffix)]
    stores = [RedisSessionStore(url) for url in urls]
    try:
        for store in stores:
            await store.migrate()
        yield stores[0], stores[1]
    finally:
        for store in stores:
            await store.close()
        untimed = redis_keys_without_ttl_then_delete(f"{redis_server_url}?key_prefix={base}")
        # Limits and counters may live without a TTL; sessions and indexes never.
        assert not [k for k in untimed if "limit:" not in k and "counter:" not in k]


async def _fill(store: RedisSessionStore) -> dict[str, object]:
    """Sessions (live, in tenants, and one expired index entry), a limit and a counter."""
    created = [
        await store.create(_record("alice")),
        await store.create(_record("alice", tenant="acme")),
        await store.create(_record("bob", tenant="acme")),
    ]
    await store.save(_record("carol", hours=-1))  # an index entry delete_expired counts
    limits = storage_for(store)
    await RateLimiter(limits).hit("login:alice", limit=5, window=600)
    await Counters(limits).add("budget", 7)
    return {"ids": [r.id for r in created], "handles": [r.handle for r in created]}


async def _state(store: RedisSessionStore, ids: list[str]) -> tuple[object, ...]:
    limits = storage_for(store)
    peek = await RateLimiter(limits).peek("login:alice", limit=5, window=600)
    return (
        [await store.load(i) is not None for i in ids],
        await store.count_sessions_for_user("alice"),
        await store.count_sessions_for_user("bob", tenant_id="acme"),
        sorted(r.handle or "" for r in await store.dump_all_sessions()),
        sorted(r.handle or "" for r in await store.dump_all_sessions(tenant_id="acme")),
        await store.stats(),
        peek.remaining,
        await Counters(limits).get("budget"),
    )


@pytest.mark.parametrize("acting", ["outer", "inner"])
async def test_nested_prefixes_never_touch_each_other(
    nested: tuple[RedisSessionStore, RedisSessionStore], acting: str
) -> None:
    outer, inner = nested
    me, other = (outer, inner) if acting == "outer" else (inner, outer)
    mine = await _fill(me)
    theirs = await _fill(other)
    their_ids: list[str] = theirs["ids"]  # type: ignore[assignment]
    before = await _state(other, their_ids)

    dumped = await me.dump_all_sessions()
    assert sorted(r.handle or "" for r in dumped) == sorted(mine["handles"])  # type: ignore[call-overload]
    stats = await me.stats()
    assert (stats.total, stats.live, stats.expired, stats.distinct_users) == (4, 3, 1, 2)
    assert stats.per_tenant == {None: 1, "acme": 2}
    assert await me.delete_expired() == 1
    assert await _state(other, their_ids) == before

    assert await me.clear_all_sessions() == 3
    assert await me.dump_all_sessions() == []
    assert await _state(other, their_ids) == before
    after = await other.stats()
    assert (after.total, after.live) == (4, 3)


@pytest.mark.parametrize("prefix", ["app:u:=x", "u:=", "a:u:=b=c"])
def test_the_one_confusable_prefix_shape_is_refused(prefix: str) -> None:
    """Under ``app:``, the keys of a store on ``app:u:=x`` would read as user indexes."""
    with pytest.raises(SessionConfigError, match="end the prefix with ':'"):
        RedisSessionStore(f"redis://127.0.0.1:1/0?key_prefix={prefix}")
    RedisSessionStore(f"redis://127.0.0.1:1/0?key_prefix={prefix}:")


@pytest.mark.parametrize("prefix", ["app:limit:", "applimit:", "app:counter:x:", "ratelimit:"])
def test_a_prefix_inside_another_stores_limit_keys_is_refused(prefix: str) -> None:
    """``app:limit:…`` is where a store on ``app:`` keeps limit keys the app names freely:
    a store there could never tell its keys from the other's."""
    with pytest.raises(SessionConfigError, match="rate limits and counters"):
        RedisSessionStore(f"redis://127.0.0.1:1/0?key_prefix={prefix}")


# -- maxmemory-policy -------------------------------------------------------------------------


#: Starts a throwaway redis-server with these extra arguments; its URL.
StartRedis = Callable[..., str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_server_exe() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("these tests start a throwaway redis-server (Debian package `redis-server`)")
    return exe


@pytest.fixture
def throwaway_redis() -> Iterator[StartRedis]:
    """A function starting a private ``redis-server`` with extra arguments; its URL."""
    exe = _redis_server_exe()
    procs: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="session-service-redis-"))

    def start(*args: str) -> str:
        port = _free_port()
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(workdir), *args],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(proc)
        client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"redis-server {' '.join(args)} exited")
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)  # waiting for the server to listen, not for an outcome
        finally:
            client.close()
        return f"redis://127.0.0.1:{port}/0"

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


async def _refused(url: str) -> str:
    """The message of the SessionConfigError both ``migrate`` and start-up raise."""
    store = RedisSessionStore(url)
    try:
        with pytest.raises(SessionConfigError) as migrating:
            await store.migrate()
    finally:
        await store.close()
    with pytest.raises(SessionConfigError) as starting:
        await SessionStoreBackend.connect(url)
    assert str(starting.value) == str(migrating.value)
    return str(migrating.value)


@pytest.mark.parametrize(
    "disable_config", [False, True], ids=["config-get", "config-disabled-info"]
)
async def test_an_evicting_redis_is_refused_unless_the_url_opts_out(
    throwaway_redis: StartRedis, disable_config: bool
) -> None:
    extra = ("--rename-command", "CONFIG", "") if disable_config else ()
    url = throwaway_redis("--maxmemory-policy", "allkeys-lru", *extra)
    message = await _refused(url)
    assert "maxmemory-policy" in message
    assert "allkeys-lru" in message
    assert "noeviction" in message
    assert "allow_eviction=true" in message

    accepted = await SessionStoreBackend.connect(url + "?allow_eviction=true&key_prefix=t:")
    try:
        await accepted.migrate()
        record = await accepted.store.create(_record("alice"))
        assert await accepted.store.load(record.id) is not None
        assert await accepted.count_sessions_for_user("alice") == 1
    finally:
        await accepted.close()


async def test_volatile_policies_are_refused_too(throwaway_redis: StartRedis) -> None:
    url = throwaway_redis("--maxmemory-policy", "volatile-lru")
    assert "volatile-lru" in await _refused(url)


@pytest.mark.parametrize("disable_config", [False, True], ids=["config-get", "config-disabled"])
async def test_a_noeviction_redis_is_accepted(
    throwaway_redis: StartRedis, disable_config: bool
) -> None:
    extra = ("--rename-command", "CONFIG", "") if disable_config else ()
    url = throwaway_redis("--maxmemory-policy", "noeviction", *extra)
    backend = await SessionStoreBackend.connect(url)
    try:
        await backend.migrate()
        record = await backend.store.create(_record("alice"))
        assert await backend.store.load(record.id) is not None
    finally:
        await backend.close()


async def test_a_request_on_an_evicting_redis_is_a_503_never_served(
    throwaway_redis: StartRedis,
) -> None:
    """A store nobody migrated or pinged checks on its first command: a request meets an
    evicting server as unavailable (the middleware's 503, the reason logged)."""
    url = throwaway_redis("--maxmemory-policy", "volatile-ttl")
    store = RedisSessionStore(url)
    try:
        with pytest.raises(SessionStoreUnavailable, match="maxmemory-policy volatile-ttl"):
            await store.create(_record("alice"))
        with pytest.raises(SessionStoreUnavailable, match="maxmemory-policy"):
            await store.load(new_session_id())
        client = redis.Redis.from_url(url)
        assert client.dbsize() == 0  # nothing was written
        client.close()
    finally:
        await store.close()


async def test_a_server_set_right_is_used_without_a_restart(throwaway_redis: StartRedis) -> None:
    url = throwaway_redis("--maxmemory-policy", "allkeys-lru")
    store = RedisSessionStore(url)
    client = redis.Redis.from_url(url)
    try:
        with pytest.raises(SessionStoreUnavailable, match="maxmemory-policy allkeys-lru"):
            await store.create(_record("alice"))
        client.config_set("maxmemory-policy", "noeviction")  # the throwaway server's own
        record = await store.create(_record("alice"))
        assert await store.load(record.id) is not None
    finally:
        client.close()
        await store.close()


def test_a_bad_allow_eviction_value_is_refused() -> None:
    with pytest.raises(SessionConfigError, match="allow_eviction"):
        RedisSessionStore("redis://127.0.0.1:1/0?allow_eviction=maybe")
