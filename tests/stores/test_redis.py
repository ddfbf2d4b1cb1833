"""What only the Redis store has: key TTLs, the key prefix, masking, and an outage.

The behaviour every store shares is in the general suite (``backend`` runs it on Redis too);
these tests cover the Redis side of it: no key is ever left without a TTL, the prefix from the
URL namespaces everything and is shared by every service on that URL, the password never shows,
and Redis going away mid-load gives 503s only and recovers without a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis.asyncio as aioredis

from session_service import (
    DefaultSessionService,
    RedisSessionStore,
    SessionConfigError,
    SessionRecord,
    SessionStoreBackend,
)
from session_service.records import new_session_id, utcnow
from session_service.settings import mask_url

from ..conftest import redis_keys_without_ttl_then_delete, redis_test_url
from ..reliability.test_faults import (
    CuttableProxy,
    _assert_sessions_load,
    _log_in_users,
    _request,
)
from ..support.webapp import build_app, settings_for

pytestmark = pytest.mark.stores("redis")


def _record(data: dict[str, object], tenant_id: str | None = None, **delta: float) -> SessionRecord:
    expiry = utcnow() + (timedelta(**delta) if delta else timedelta(hours=1))
    return SessionRecord(new_session_id(), dict(data), expiry, tenant_id=tenant_id)


async def _keys(store: RedisSessionStore) -> dict[str, int]:
    """Every key under the store's prefix and its PTTL."""
    client = store.client
    keys = [k async for k in client.scan_iter(match=store.key_prefix + "*")]
    return {k.decode(): await client.pttl(k) for k in keys}


async def test_every_key_written_has_a_ttl(backend: SessionStoreBackend) -> None:
    store = backend.store
    assert isinstance(store, RedisSessionStore)
    a = _record({"user_id": "alice"}, tenant_id="acme")
    await backend.create(a)
    await backend.save(_record({"user_id": "alice"}, minutes=-5))  # expired at once
    await backend.save(_record({}))
    b = _record({"user_id": "bob"})
    await backend.save(b)
    await backend.touch(b.id, utcnow() + timedelta(days=3))
    await backend.rotate(a.id, _record({"user_id": "carol"}, tenant_id="acme"))
    b.data = {"user_id": "dave"}
    await backend.update(b, extend_expiry=False)
    keys = await _keys(store)
    assert len(keys) >= 8  # sessions, tenant, user and user-tenant indexes
    assert all(ttl > 0 for ttl in keys.values()), keys


async def test_index_ttl_covers_the_latest_expiry(backend: SessionStoreBackend) -> None:
    store = backend.store
    assert isinstance(store, RedisSessionStore)
    await backend.save(_record({"user_id": "alice"}, days=1))
    await backend.save(_record({"user_id": "alice"}, days=30))
    await backend.save(_record({"user_id": "alice"}, days=2))  # does not shorten it
    ttls = await _keys(store)
    longest = max(ttl for key, ttl in ttls.items() if ":s:" in key)
    indexes = [ttl for key, ttl in ttls.items() if ":s:" not in key]
    assert indexes and all(ttl >= longest for ttl in indexes)


async def test_delete_expired_prunes_index_entries_that_redis_expired(
    backend: SessionStoreBackend,
) -> None:
    await backend.save(_record({"user_id": "alice"}, seconds=-1))
    live = _record({"user_id": "alice"})
    await backend.save(live)
    assert (await backend.stats()).expired == 1
    assert await backend.delete_expired() == 1
    assert await backend.delete_expired() == 0
    assert await backend.get_session_ids_for_user("alice") == [live.handle]


async def test_the_url_prefix_namespaces_every_key_and_is_shared(
    db_url: str, redis_server_url: str, tmp_path: Path
) -> None:
    first = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
    second = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
    other_url = redis_test_url(redis_server_url)
    other = SessionStoreBackend.from_url(other_url)
    try:
        record = _record({"user_id": "alice"})
        await first.get_session_store().save(record)
        assert await second.count_sessions_for_user("alice") == 1  # same URL, same sessions
        assert await other.count_sessions_for_user("alice") == 0  # another prefix: none
        assert await second.clear_sessions_for_user("alice") == 1
        assert await first.get_session_store().load(record.id) is None
        store = first.get_session_store().store
        assert isinstance(store, RedisSessionStore) and store.key_prefix in db_url
    finally:
        await asyncio.gather(first.close(), second.close(), other.close())
        redis_keys_without_ttl_then_delete(other_url)


def test_key_prefix_comes_from_the_url_then_the_argument_then_the_default() -> None:
    assert RedisSessionStore("redis://h/0?key_prefix=a:").key_prefix == "a:"
    assert RedisSessionStore("redis://h/0?key_prefix=a:", key_prefix="b:").key_prefix == "a:"
    assert RedisSessionStore("redis://h/0", key_prefix="b:").key_prefix == "b:"
    assert RedisSessionStore("redis://h/0").key_prefix == "session:"


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cret@h:6379/0",
        "redis://user:s3cret@h/0?key_prefix=x:",
        "rediss://h/0?password=s3cret",
        "redis+sentinel://h/mymaster?key_prefix=k:&sentinel_password=s3cret",
    ],
)
def test_passwords_are_masked_in_urls_and_reprs(url: str) -> None:
    store = RedisSessionStore(url)
    for text in (store.display_url, repr(store), mask_url(url), repr(SessionStoreBackend(store))):
        assert "s3cret" not in text
    assert urlsplit(store.display_url).hostname == "h"


async def test_migrate_checks_the_server_and_succeeds(backend: SessionStoreBackend) -> None:
    await backend.migrate()
    await backend.migrate()


def test_settings_accept_redis_and_cluster_accepts_it(tmp_path: Path) -> None:
    env = {
        "SESSION_DB_URL": "redis://h:6379/0",
        "DEPLOYMENT": "cluster",
        "SESSION_SECRET_KEY": "k" * 40,
        "SESSION_REDIS_KEY_PREFIX": "app1:",
    }
    settings = settings_for("redis://h:6379/0", str(tmp_path), **env)
    assert (settings.store_kind, settings.redis_key_prefix) == ("redis", "app1:")
    for url in ("memory://", "sqlite:///x.db"):
        with pytest.raises(SessionConfigError, match="PostgreSQL or Redis"):
            settings_for(url, str(tmp_path), **{**env, "SESSION_DB_URL": url})


@pytest.fixture
async def proxied_redis(db_url: str) -> AsyncIterator[tuple[str, CuttableProxy]]:
    parts = urlsplit(db_url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    try:
        yield parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl(), proxy
    finally:
        if proxy._server is not None:
            await proxy.cut()


async def test_redis_stopped_mid_load_gives_503s_then_the_same_app_recovers(
    proxied_redis: tuple[str, CuttableProxy], tmp_path: Path
) -> None:
    url, proxy = proxied_redis
    service = DefaultSessionService(url, settings_for(url, str(tmp_path)))
    await service.migrate()
    transport = httpx.ASGITransport(app=build_app(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            cookies = await _log_in_users(client)
            load = [
                _request(client, "GET", "/read", cookie)
                for cookie in cookies.values()
                for _ in range(5)
            ]
            cut = asyncio.ensure_future(proxy.cut())  # mid-load: requests are in flight
            statuses = {r.status_code for r in await asyncio.gather(*load)}
            await cut
            assert statuses <= {200, 503}, statuses
            for cookie in cookies.values():
                for method, path in (("GET", "/read"), ("POST", "/set?x=1")):
                    response = await _request(client, method, path, cookie)
                    assert response.status_code == 503, (method, path, response.text)
            await proxy.start()
            await _assert_sessions_load(client, cookies)
            assert await service.count_sessions_for_user("u0") == 1
    finally:
        await service.close()


async def test_a_dead_server_is_unavailable_with_the_password_masked() -> None:
    backend = SessionStoreBackend.from_url("redis://:s3cret@127.0.0.1:1/0")
    from session_service import SessionStoreUnavailable

    with pytest.raises(SessionStoreUnavailable) as caught:
        await backend.load(new_session_id())
    assert "s3cret" not in str(caught.value) and "cannot reach" in str(caught.value)
    assert caught.value.__cause__ is not None
    await backend.close()


async def test_client_is_a_redis_asyncio_client(backend: SessionStoreBackend) -> None:
    store = backend.store
    assert isinstance(store, RedisSessionStore)
    assert isinstance(store.client, aioredis.Redis)
    assert await store.client.ping()


async def _connections_named(client: aioredis.Redis, name: str) -> list[dict[str, str]]:
    return [c for c in await client.client_list() if c.get("name") == name]


async def test_a_burst_beyond_the_pool_waits_for_a_connection_instead_of_failing(
    db_url: str,
) -> None:
    name = f"burst-{new_session_id()[:8]}"
    store = RedisSessionStore(db_url, max_connections=3, client_name=name)
    try:
        records = [_record({"user_id": f"u{i}"}) for i in range(5)]
        for record in records:
            await store.create(record)
        loads = [store.load(records[i % 5].id) for i in range(200)]
        loaded = await asyncio.gather(*loads)
        assert all(r is not None for r in loaded)  # none failed for want of a connection
        assert len(await _connections_named(store.client, name)) <= 3
    finally:
        await store.clear_all_sessions()
        await store.close()


async def test_an_exhausted_pool_is_unavailable_after_the_timeout_then_recovers(
    db_url: str,
) -> None:
    from session_service import SessionStoreUnavailable

    name = f"held-{new_session_id()[:8]}"
    store = RedisSessionStore(
        db_url, max_connections=2, timeout=0.3, socket_timeout=30, client_name=name
    )
    record = _record({"user_id": "alice"})
    await store.create(record)
    queue = store.key_prefix + "held-queue"
    probe = aioredis.Redis.from_url(db_url.split("?")[0])  # a client of its own
    # Both of the store's connections block in BLPOP until something is pushed on ``queue``.
    holders = [asyncio.ensure_future(store.client.blpop([queue], timeout=30)) for _ in range(2)]
    try:
        # Until the server shows both blocked (each check is a round trip the holders run in).
        while sum(c.get("cmd") == "blpop" for c in await _connections_named(probe, name)) < 2:
            pass
        with pytest.raises(SessionStoreUnavailable) as caught:
            await store.load(record.id)
        assert "cannot reach the session database" in str(caught.value)
    finally:
        await probe.rpush(queue, "a", "b")
        await asyncio.gather(*holders)
        await probe.aclose()
    loaded = await store.load(record.id)  # the same store, no restart
    assert loaded is not None and loaded.data == {"user_id": "alice"}
    await store.clear_all_sessions()
    await store.close()


async def test_a_stalled_redis_costs_a_request_one_timeout_then_503(
    proxied_redis: tuple[str, CuttableProxy], tmp_path: Path
) -> None:
    """A server that stops answering: every request gets 503 after one
    ``SESSION_DB_TIMEOUT_SECONDS`` (the wait for a pooled connection included; a command is
    never retried), nothing stored is lost, and the same app recovers when Redis answers."""
    from ..reliability.test_stall import TIMEOUT as STALL_TIMEOUT
    from ..reliability.test_stall import WORST_ALLOWED, _timed

    url, proxy = proxied_redis
    settings = settings_for(url, str(tmp_path), SESSION_DB_TIMEOUT_SECONDS=str(STALL_TIMEOUT))
    service = DefaultSessionService(url, settings)
    await service.migrate()
    transport = httpx.ASGITransport(app=build_app(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            cookies = await _log_in_users(client)
            client.cookies.clear()  # each request carries exactly its own cookie
            proxy.stalled = True
            calls = [
                _timed(client, method, path, cookie)
                for cookie in cookies.values()
                for method, path in (("GET", "/read"), ("POST", "/set?x=1"))
            ]
            results = await asyncio.gather(*calls)
            proxy.stalled = False
            assert [status for status, _ in results] == [503] * len(calls)
            worst = max(waited for _, waited in results)
            print(f"redis: {len(calls)} requests, timeout {STALL_TIMEOUT} s, worst {worst:.2f} s")
            assert worst < WORST_ALLOWED, f"a request waited {worst:.2f} s"
            await _assert_sessions_load(client, cookies)  # nothing lost, no restart
    finally:
        await service.close()
