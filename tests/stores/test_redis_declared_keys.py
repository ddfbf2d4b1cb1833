"""Issue 23: every Lua script of the single-node Redis store declares every key it touches in
``KEYS`` (shared/API.md §16), so strict engines and a cluster can run it.

How it is proven: every operation that runs a script (writes, login with the per-user cap,
the admin operations, cleanup, stats, transfer, the id migration, rate limits, the guard's
and the counters' scripts) runs against a throwaway ``redis-server`` while a ``MONITOR``
connection records what the server executes. Redis logs an ``EVALSHA``/``EVAL`` line, then
each command its script sends (``[0 lua]``), before anything else runs (a script is atomic);
``COMMAND GETKEYS`` says which arguments of each are keys. Every such key must be among the
script's declared keys, and every script of the store must have run.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.stores import _rules, base
from session_service.stores.redis import (
    RedisSessionStore,
    admin_scripts,
    delta,
    limits,
    rehash,
    transfer,
)
from session_service.stores.redis import scripts as S
from session_service.stores.redis.pool import run_script
from session_service.stores.redis.rehash import DONE_KEY

pytestmark = pytest.mark.stores("redis")

_QUOTED = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}


def _unrepr(text: bytes) -> bytes:
    """One argument as MONITOR quotes it (``sdscatrepr``), back to its bytes."""
    out, i = bytearray(), 0
    while i < len(text):
        c = text[i : i + 1]
        if c == b"\\":
            nxt = text[i + 1 : i + 2]
            if nxt == b"x":
                out += bytes([int(text[i + 2 : i + 4], 16)])
                i += 4
                continue
            out += _ESCAPES.get(nxt, nxt)
            i += 2
            continue
        out += c
        i += 1
    return bytes(out)


class _Monitor:
    """The commands a server executes, as (who, [arguments]), read by a MONITOR thread."""

    def __init__(self, port: int) -> None:
        self.lines: list[tuple[bytes, list[bytes]]] = []
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.sendall(b"MONITOR\r\n")
        self._file = self._sock.makefile("rb")
        assert self._file.readline() == b"+OK\r\n"
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._file:
            head, _, rest = line.rstrip(b"\r\n").partition(b"] ")
            who = head.partition(b"[")[2].split(b" ", 1)[-1]
            self.lines.append((who, [_unrepr(m.group(1)) for m in _QUOTED.finditer(rest)]))

    def settle(self, port: int) -> None:
        """Wait until the thread has read every line up to now: a marker sent after them."""
        marker = f"settled {time.monotonic_ns()}".encode()
        redis.Redis(port=port).echo(marker)
        deadline = time.monotonic() + 10
        while not any(args[-1:] == [marker] for _, args in self.lines[-3:]):
            assert time.monotonic() < deadline, "the MONITOR thread fell behind"
            time.sleep(0.01)  # polling the reader thread, bounded

    def close(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)


def _connection(port: int) -> redis.Connection:
    return redis.Connection(port=port)  # type: ignore[no-untyped-call]


def _keys_of(connection: redis.Connection, args: list[bytes]) -> list[bytes]:
    """The key arguments of one command, as the server tells them (``COMMAND GETKEYS``)."""
    connection.send_command("COMMAND", "GETKEYS", *args)  # type: ignore[no-untyped-call]
    try:
        return list(connection.read_response())
    except redis.ResponseError:
        return []  # PUBLISH: no key (a channel)


def _undeclared(
    lines: list[tuple[bytes, list[bytes]]], getkeys: redis.Connection
) -> tuple[set[str], list[str]]:
    """The SHA1s of the scripts run, and each key a script touched without declaring it."""
    ran: set[str] = set()
    bad: list[str] = []
    declared: set[bytes] | None = None
    sha = ""
    for who, args in lines:
        name = args[0].upper() if args else b""
        if who != b"lua":
            declared = None
            if name in (b"EVALSHA", b"EVAL"):
                sha = args[1].decode() if name == b"EVALSHA" else hashlib.sha1(args[1]).hexdigest()
                ran.add(sha)
                declared = set(args[3 : 3 + int(args[2])])
            continue
        assert declared is not None, f"a script's command without its EVAL: {args!r}"
        keys = _keys_of(getkeys, args)
        for key in keys:
            if key not in declared:
                bad.append(f"{sha[:8]} {args[0].decode()} {key!r}")
    return ran, bad


@pytest.fixture
def server() -> Iterator[int]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("these tests start a throwaway redis-server (Debian package `redis-server`)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    workdir = tempfile.mkdtemp(prefix="session-service-redis-")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.05)  # waiting for the server to listen, not for an outcome
    client.close()
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(Path(workdir), ignore_errors=True)


@pytest.fixture
async def watched(server: int) -> AsyncIterator[tuple[SessionStoreBackend, _Monitor]]:
    backend = SessionStoreBackend.from_url(f"redis://127.0.0.1:{server}/0")
    await backend.migrate()
    monitor = _Monitor(server)
    try:
        yield backend, monitor
    finally:
        monitor.close()
        await backend.close()


def _record(user: str | None, tenant: str | None = "t", **data: object) -> SessionRecord:
    if user is not None:
        data["user_id"] = user
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1), tenant_id=tenant)


def _every_script() -> set[str]:
    found = {s.sha for m in (S, admin_scripts) for s in vars(m).values() if isinstance(s, S.Script)}
    found |= {delta.PATCH.sha, transfer.IMPORT.sha, rehash.REKEY.sha}
    found |= {s.sha for s in vars(limits).values() if isinstance(s, limits._Script)}
    found.add(hashlib.sha1(transfer._IMPORT_LOG.encode()).hexdigest())
    return found


async def _every_operation(backend: SessionStoreBackend, port: int) -> None:
    store = backend.store
    assert isinstance(store, RedisSessionStore)
    store.max_per_user = 2
    first = await backend.create(_record("alice", n=1))
    await backend.create(_record("alice", n=2))
    await backend.create(_record("alice", tenant=None))
    anon = await backend.create(_record(None))
    assert await backend.load(first.id) is not None
    first.data["n"] = 3
    await backend.save(first)
    await backend.update(first, extend_expiry=True)
    await backend.patch(first.id, {"n": 4}, ())
    await backend.patch(anon.id, {"user_id": "alice"}, ())  # binds a user: the cap after it
    assert await backend.touch(first.id, utcnow() + timedelta(hours=2), last_seen=utcnow())
    assert await backend.seen(first.id, utcnow())
    login = _record("alice", n=5)
    visitor = await backend.create(_record(None))
    assert await backend.rotate(visitor.id, login)  # a login over the cap: the LRU one goes
    await backend.create(_record("alice", n=6))  # a write over the cap: the LRU one goes
    third = await backend.create(_record("bob"))
    await backend.delete(third.id)
    handles = await backend.get_session_ids_for_user("alice", tenant_id="t")
    await backend.list_sessions_for_user("alice")
    await backend.count_sessions_for_user("alice")
    await backend.revoke_user_session("alice", handles[0], tenant_id="t")
    await backend.clear_sessions_for_user("alice", tenant_id="t", keep=login.id)
    await backend.clear_sessions_for_user("alice")
    await backend.create(_record("dave", tenant="acme"))
    await store.stats()
    await backend.delete_expired()
    rows = [row async for batch in store.export_sessions() for row in batch]
    await store.clear_all_sessions(tenant_id="acme")
    await store.import_sessions(rows)
    await store.clear_all_sessions()
    limit = store.limit_storage()
    now = int(time.time() * 1000)
    await limit.hit("login:x", 3, 60_000, now)
    log = await limit.log("login:x")
    await limit.reset_if("login:x", log)
    await limit.hit("login:y", 3, 60_000, now)  # one log to export and import
    await limit.counter_add("c", 1, 10, 60_000, now)
    entries = [e async for batch in store.export_limits() for e in batch]
    await store.import_limits(entries)
    # the id migration (issue 25): sessions of the previous layout, under their own ids
    old = _record("erin")
    with pytest.MonkeyPatch.context() as previous:
        previous.setattr(base, "at_rest_id", lambda sid: sid)
        previous.setattr(_rules, "at_rest_id", lambda sid: sid)
        await backend.save(old)
    await store.client.delete(store.key_prefix + DONE_KEY)
    await store.migrate()


async def test_every_script_declares_every_key_it_touches(
    watched: tuple[SessionStoreBackend, _Monitor], server: int
) -> None:
    backend, monitor = watched
    await _every_operation(backend, server)
    monitor.settle(server)
    ran, bad = _undeclared(monitor.lines, _connection(server))
    assert bad == [], "\n".join(bad)
    missing = _every_script() - ran
    assert not missing, f"scripts never run here: {missing}"


async def test_the_check_sees_a_script_that_builds_a_key_itself(
    watched: tuple[SessionStoreBackend, _Monitor], server: int
) -> None:
    """A planted script naming a key of its own (as the old scripts did with the prefix):
    the check above must fail on it."""
    backend, monitor = watched
    store = backend.store
    assert isinstance(store, RedisSessionStore)
    source = "redis.call('GET', KEYS[1]); return redis.call('ZCARD', ARGV[1] .. 't:-')"
    sha = hashlib.sha1(source.encode()).hexdigest()
    await run_script(store.client.connection_pool, sha, source, ["k"], [store.key_prefix])
    monitor.settle(server)
    ran, bad = _undeclared(monitor.lines, _connection(server))
    assert sha in ran
    assert bad == [f"{sha[:8]} ZCARD {(store.key_prefix + 't:-').encode()!r}"]


async def test_a_request_after_a_load_is_still_one_script_call(
    watched: tuple[SessionStoreBackend, _Monitor], server: int
) -> None:
    """Declaring the indexes costs no round trip on the per-request path: after a load, the
    store knows the session's owner, so save, patch, touch and delete are one ``EVALSHA``."""
    backend, monitor = watched
    record = await backend.create(_record("alice", n=1))
    fresh = SessionStoreBackend.from_url(f"redis://127.0.0.1:{server}/0")  # another process's
    try:
        loaded = await fresh.load(record.id)
        assert loaded is not None
        calls: list[int] = []

        async def counted(operation: object) -> None:
            monitor.settle(server)
            before = len(monitor.lines)
            await operation  # type: ignore[misc]
            monitor.settle(server)
            mine = [args[:2] for who, args in monitor.lines[before:] if who != b"lua"]
            # an EVALSHA the server did not know yet is loaded and sent again: one run
            calls.append(
                mine.count([b"SCRIPT", b"LOAD"]) * -1
                + sum(1 for a in mine if a[:1] == [b"EVALSHA"])
            )

        await counted(fresh.touch(record.id, utcnow() + timedelta(hours=2)))
        await counted(fresh.patch(record.id, {"n": 2}, ()))
        loaded.data["n"] = 3
        await counted(fresh.save(loaded))
        await counted(fresh.delete(record.id))
        assert calls == [1, 1, 1, 1]
    finally:
        await fresh.close()
