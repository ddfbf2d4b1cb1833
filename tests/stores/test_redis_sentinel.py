"""The Redis store through Sentinel (``redis+sentinel://``): a real ``redis-server --sentinel``.

The Sentinel is started here, on a free port, monitoring the test Redis
(``SESSION_TEST_REDIS_URL``) under a service name of its own, with failure detection set far
beyond any test: that Redis is shared with the other tests, so nothing here may change its
configuration or fail it over. Without ``redis-server`` the tests skip with the reason; with
``SESSION_TEST_REQUIRE_REDIS=1`` that is a failure. What the Sentinel must bring: sessions
reach the primary it names (another store on the direct URL sees them), the pool keeps its
bound, an unknown service is a clear 503, no password ever shows, and the CLI works with it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import redis

from session_service import (
    RedisSessionStore,
    SessionRecord,
    SessionSettings,
    SessionStoreBackend,
    SessionStoreUnavailable,
)
from session_service.records import new_session_id, utcnow

from ..cli.test_cli import ok, one_error_line, run
from ..conftest import REQUIRE_REDIS_ENV, redis_keys_without_ttl_then_delete, redis_test_url

SECRET = "s" * 48
PASSWORD = "pw-hunter2"
SENTINEL_PASSWORD = "sp-hunter3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_named(port: int, service: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the Sentinel names the service's primary (it gives no other sign of readiness)."""
    client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server --sentinel exited: {log.read_text()[-2000:]}")
            try:
                if client.sentinel_get_master_addr_by_name(service):
                    return
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the Sentinel did not name the primary within 20 s")
    finally:
        client.close()


def _redis_server() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        reason = "the Sentinel tests need redis-server (Debian package `redis-server`)"
        if os.environ.get(REQUIRE_REDIS_ENV) == "1":
            pytest.fail(f"{REQUIRE_REDIS_ENV}=1 but {reason}")
        pytest.skip(reason)
    return exe


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def sentinel(redis_server_url: str) -> Iterator[tuple[int, str]]:
    """(port, service name) of a Sentinel whose service is the test Redis."""
    exe = _redis_server()
    server = urlsplit(redis_server_url)
    host = socket.getaddrinfo(server.hostname or "127.0.0.1", server.port or 6379)[0][4][0]
    port, service = _free_port(), f"sstest{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="session-service-sentinel-"))
    log = workdir / "sentinel.log"
    auth = f"sentinel auth-pass {service} {unquote(server.password)}\n" if server.password else ""
    (workdir / "sentinel.conf").write_text(  # the Sentinel rewrites it: a file of its own
        f"port {port}\nbind 127.0.0.1\ndir {workdir}\nlogfile {log}\n"
        "sentinel resolve-hostnames no\n"
        f"sentinel monitor {service} {host} {server.port or 6379} 1\n{auth}"
        # Never judge the shared server down, never fail it over, within any test run.
        f"sentinel down-after-milliseconds {service} 3600000\n"
        f"sentinel failover-timeout {service} 3600000\n"
    )
    proc = subprocess.Popen([exe, str(workdir / "sentinel.conf"), "--sentinel"])
    try:
        _wait_until_named(port, service, proc, log)
        yield port, service
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _through(direct: str, port: int, service: str) -> str:
    """``direct`` (a redis:// URL with its key prefix) as the same database through Sentinel."""
    parts = urlsplit(direct)
    userinfo = parts.netloc.rpartition("@")[0]
    at = f"{userinfo}@" if userinfo else ""
    db = parts.path.strip("/") or "0"
    return f"redis+sentinel://{at}127.0.0.1:{port}/{service}/{db}?{parts.query}"


@pytest.fixture
def urls(redis_server_url: str, sentinel: tuple[int, str]) -> Iterator[tuple[str, str]]:
    """(direct URL, sentinel URL) of one fresh key prefix; its keys deleted afterwards."""
    direct = redis_test_url(redis_server_url)
    try:
        yield direct, _through(direct, *sentinel)
    finally:
        untimed = redis_keys_without_ttl_then_delete(direct)
    assert not untimed, f"keys left without a TTL: {untimed[:5]}"


def _record(user: str) -> SessionRecord:
    return SessionRecord(new_session_id(), {"user_id": user}, utcnow() + timedelta(hours=1))


async def test_sessions_go_to_the_primary_the_sentinel_names(urls: tuple[str, str]) -> None:
    direct_url, sentinel_url = urls
    through = SessionStoreBackend.from_url(sentinel_url)
    direct = SessionStoreBackend.from_url(direct_url)
    try:
        assert through.kind == "redis"
        await through.migrate()  # the version check, on the primary
        alice, bob = _record("alice"), _record("bob")
        await through.create(alice)
        await through.create(bob)
        seen = await direct.load(alice.id)  # another instance, on the primary's own address
        assert seen is not None and seen.data == {"user_id": "alice"}
        assert await through.patch(alice.id, {"cart": [1, 2]}, ())
        loaded = await through.load(alice.id)
        assert loaded is not None and loaded.data == {"user_id": "alice", "cart": [1, 2]}
        assert await through.clear_sessions_for_user("alice") == 1
        assert await direct.load(alice.id) is None
        assert await through.load(bob.id) is not None
    finally:
        await through.close()
        await direct.close()


async def test_the_pool_keeps_its_bound_through_sentinel(urls: tuple[str, str]) -> None:
    name = f"burst-{new_session_id()[:8]}"
    store = RedisSessionStore(urls[1], max_connections=3, client_name=name)
    try:
        records = [_record(f"u{i}") for i in range(5)]
        for record in records:
            await store.create(record)
        loaded = await asyncio.gather(*(store.load(records[i % 5].id) for i in range(200)))
        assert all(r is not None for r in loaded)  # none failed for want of a connection
        clients = await store.client.client_list()
        assert len([c for c in clients if c.get("name") == name]) <= 3
    finally:
        await store.close()


async def test_an_unknown_service_is_unavailable_with_a_clear_message(
    sentinel: tuple[int, str],
) -> None:
    url = f"redis+sentinel://:{PASSWORD}@127.0.0.1:{sentinel[0]}/no-such-service"
    backend = SessionStoreBackend.from_url(url)
    try:
        for attempt in (backend.migrate(), backend.load(new_session_id()), backend.ping()):
            with pytest.raises(SessionStoreUnavailable) as caught:
                await attempt
            message = str(caught.value)
            assert "the Sentinels know no primary of that service" in message
            assert "/no-such-service" in message and PASSWORD not in message
    finally:
        await backend.close()


async def test_no_sentinel_answering_is_unavailable(sentinel: tuple[int, str]) -> None:
    closed = _free_port()  # nothing listens there
    backend = SessionStoreBackend.from_url(f"redis+sentinel://127.0.0.1:{closed}/{sentinel[1]}")
    try:
        with pytest.raises(SessionStoreUnavailable, match="not every one could be reached"):
            await backend.load(new_session_id())
    finally:
        await backend.close()


async def test_the_passwords_never_show(sentinel: tuple[int, str], tmp_path: Path) -> None:
    port, _ = sentinel
    url = (
        f"redis+sentinel://:{PASSWORD}@127.0.0.1:{port},127.0.0.1:{_free_port()}/nope/1"
        f"?sentinel_password={SENTINEL_PASSWORD}"
    )
    settings = SessionSettings.from_env(
        {"SESSION_DB_URL": url, "DEPLOYMENT": "cluster", "SESSION_SECRET_KEY": SECRET,
         "SESSION_DATA_DIR": str(tmp_path)}
    )  # fmt: skip
    backend = SessionStoreBackend.from_url(
        settings.db_url, **settings.store_options(settings.store_kind)
    )
    try:
        with pytest.raises(SessionStoreUnavailable) as caught:
            await backend.migrate()
        assert "no Sentinel named a primary" in str(caught.value)  # one is closed
        shown = [repr(settings), settings.display_url, repr(backend), str(caught.value)]
        for text in shown:
            assert PASSWORD not in text and SENTINEL_PASSWORD not in text, text
        assert "sentinel_password=***" in backend.display_url
    finally:
        await backend.close()


def test_the_cli_works_through_sentinel(urls: tuple[str, str], tmp_path: Path) -> None:
    direct_url, sentinel_url = urls

    async def seed() -> None:
        backend = SessionStoreBackend.from_url(direct_url)
        try:
            await backend.create(_record("alice"))
        finally:
            await backend.close()

    asyncio.run(seed())
    out = run("count-user", "alice", data_dir=tmp_path, env={"SESSION_DB_URL": sentinel_url})
    assert ok(out).strip() == "1 live session for user alice"
    port = urlsplit(sentinel_url).port
    unknown = f"redis+sentinel://:{PASSWORD}@127.0.0.1:{port}/no-such-service"
    line = one_error_line(run("--db-url", unknown, "count-user", "alice", data_dir=tmp_path))
    assert "the Sentinels know no primary of that service" in line and PASSWORD not in line


# -- a failover, on throwaway servers (never the shared test Redis) ---------------------------


def _poll(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within 30 s: {what}")
        time.sleep(0.05)


def _role(port: int) -> str:
    client = redis.Redis(port=port, socket_timeout=2)
    try:
        role: Any = client.role()
        return str(role[0].decode())
    except redis.ConnectionError:
        return "down"
    finally:
        client.close()


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[tuple[int, int, int, str]]:
    """(primary port, replica port, Sentinel port, service) of servers of this test alone."""
    exe = _redis_server()
    primary, replica, port = _free_port(), _free_port(), _free_port()
    service = "failover"
    plain = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    def server(name: str, *args: str) -> subprocess.Popen[bytes]:
        (tmp_path / name).mkdir()
        command = [exe, *args, *plain, "--dir", str(tmp_path / name)]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    procs = [server("primary", "--port", str(primary))]
    try:
        _poll(lambda: _role(primary) == "master", "the primary answers")
        procs.append(server("replica", "--port", str(replica), "--replicaof", "127.0.0.1",
                            str(primary)))  # fmt: skip
        conf = tmp_path / "sentinel.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\nlogfile {tmp_path / 's.log'}\n"
            f"sentinel resolve-hostnames no\nsentinel monitor {service} 127.0.0.1 {primary} 1\n"
        )
        procs.append(subprocess.Popen([exe, str(conf), "--sentinel"]))
        _wait_until_named(port, service, procs[-1], tmp_path / "s.log")
        ask = redis.Redis(port=port, socket_timeout=2)
        try:  # the Sentinel must have seen the replica in sync before it can promote it

            def in_sync() -> bool:
                known = ask.sentinel_slaves(service)
                return bool(known) and known[0].get("master-link-status") == "ok"

            _poll(in_sync, "the Sentinel sees the replica in sync")
        finally:
            ask.close()
        yield primary, replica, port, service
    finally:
        for proc in procs:
            _stop(proc)


async def test_a_failover_is_503_until_the_new_primary_then_works_without_a_restart(
    replicated: tuple[int, int, int, str],
) -> None:
    primary, replica, port, service = replicated
    store = RedisSessionStore(f"redis+sentinel://127.0.0.1:{port}/{service}")
    try:
        await store.migrate()
        before = _record("alice")
        await store.create(before)  # a pooled connection to the old primary stays open
        direct = redis.Redis(port=primary, socket_timeout=10)
        try:  # the replica has the session before it is promoted
            assert direct.wait(1, 5000) == 1
        finally:
            direct.close()
        ask = redis.Redis(port=port, socket_timeout=2)
        try:
            ask.sentinel_failover(service)

            def promoted() -> bool:
                address: Any = ask.sentinel_get_master_addr_by_name(service)
                return int(address[1]) == replica

            _poll(promoted, "the Sentinel names the replica as the primary")
        finally:
            ask.close()
        _poll(lambda: _role(primary) == "slave", "the old primary is demoted")
        outcomes = []
        for _ in range(3):  # the connection to the old primary fails (503), a new one works
            try:
                outcomes.append(await store.create(_record("bob")) is not None)
                break
            except SessionStoreUnavailable:
                outcomes.append(False)
        assert outcomes[-1] is True and len(outcomes) <= 2, outcomes
        assert await store.count_sessions_for_user("bob") == 1
        loaded = await store.load(before.id)  # written before the failover, replicated
        assert loaded is not None and loaded.data == {"user_id": "alice"}
        assert _role(replica) == "master"
    finally:
        await store.close()
