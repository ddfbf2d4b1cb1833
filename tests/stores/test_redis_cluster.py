"""What only the Redis Cluster store has (the contract suite runs on it in
tests/stores/test_contract_cluster.py): its URLs, its key layout (a user's sessions in the
user's slot, a session moved there at login), a slot migrating under load (``MOVED``/``ASK``)
losing nothing acknowledged, and a primary failing over costing 503s, never a restart.

The cluster is the session-scoped ``redis_cluster`` fixture (tests/support/redis_cluster.py).
The failover test kills a primary and restarts it (it rejoins as a replica), so it waits for
``cluster_state:ok`` before it ends, leaving the cluster whole for the tests after it."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from session_service import (
    RedisSessionStore,
    SessionRecord,
    SessionStoreBackend,
    SessionStoreUnavailable,
)
from session_service.errors import SessionConfigError
from session_service.records import new_session_id, utcnow
from session_service.settings import normalize_db_url
from session_service.storable import at_rest_id
from session_service.stores.redis_cluster import RedisClusterSessionStore

from ..cli.test_cli import ok, run
from ..support.redis_cluster import Cluster, wait_until

pytestmark = pytest.mark.stores("redis_cluster")


def _record(user: str | None = None, **data: Any) -> SessionRecord:
    body = dict(data) if user is None else {"user_id": user, **data}
    return SessionRecord(new_session_id(), body, utcnow() + timedelta(hours=1))


def _slot(client: Any, key: str) -> int:
    return int(client.keyslot(key))


async def _store(db_url: str) -> RedisClusterSessionStore:
    store = SessionStoreBackend.from_url(db_url).store
    assert isinstance(store, RedisClusterSessionStore)
    await store.migrate()
    return store


def test_cluster_urls_parse_and_refuse_what_a_cluster_cannot_be() -> None:
    kind, url = normalize_db_url("rediss+cluster://:pw@a:7000,b:7001/?key_prefix=app:")
    assert kind == "redis" and url.startswith("rediss+cluster://")
    with pytest.raises(SessionConfigError, match="database 0 alone"):
        normalize_db_url("redis+cluster://a:7000/3")
    with pytest.raises(SessionConfigError, match="db="):
        normalize_db_url("redis+cluster://a:7000?db=2")
    with pytest.raises(SessionConfigError, match="brace"):
        RedisClusterSessionStore("redis+cluster://a:7000?key_prefix=a{b}:")
    store = RedisClusterSessionStore("redis+cluster://:hunter2@a:7000")
    assert "hunter2" not in repr(store) and "hunter2" not in store.display_url


async def test_a_users_sessions_and_indexes_share_the_users_slot(
    db_url: str, redis_cluster: Cluster
) -> None:
    store = await _store(db_url)
    try:
        records = [_record("alice") for _ in range(5)]
        for r in records:
            await store.create(r)
        client = redis_cluster.client()
        keys = [await store.stored_key(at_rest_id(r.id)) for r in records]
        keys += [store._user_base("=alice") + "ut", store._user_base("=alice") + "u:-"]
        assert len({_slot(client, k) for k in keys}) == 1
        client.close()
    finally:
        await store.close()


async def test_login_moves_an_anonymous_session_to_the_users_slot_and_kills_the_old_id(
    db_url: str, redis_cluster: Cluster
) -> None:
    store = await _store(db_url)
    try:
        anonymous = await store.create(_record(cart=3))
        before = await store.stored_key(at_rest_id(anonymous.id))
        login = _record("bob", cart=3)
        assert await store.rotate(anonymous.id, login) is True
        assert await store.load(anonymous.id) is None  # a fixated pre-login id never survives
        loaded = await store.load(login.id)
        assert loaded is not None and loaded.user_id == "bob" and loaded.data["cart"] == 3
        client = redis_cluster.client()
        after = await store.stored_key(at_rest_id(login.id))
        assert _slot(client, after) == _slot(client, store._user_base("=bob") + "ut")
        assert client.exists(before) == 0
        client.close()
        assert await store.clear_sessions_for_user("bob") == 1
    finally:
        await store.close()


def _owner(cluster: Cluster, slot: int) -> int:
    """The port of the primary serving ``slot`` now."""
    for start, end, primary, *_ in cluster.node(cluster.primaries()[0]).execute_command(
        "CLUSTER SLOTS"
    ):
        if int(start) <= slot <= int(end):
            return int(primary[1])
    raise AssertionError(f"no primary serves slot {slot}")


def _node_id(cluster: Cluster, port: int) -> str:
    raw = cluster.node(port).execute_command("CLUSTER MYID")
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _migrate_slot(cluster: Cluster, slot: int, step: threading.Semaphore) -> int:
    """Move ``slot`` to another primary as ``redis-cli --cluster reshard`` does: mark it
    importing and migrating, ``MIGRATE`` its keys a few at a time (each batch only after the
    load made one more operation: ``step``), then give it away. Returns the batches moved."""
    source = _owner(cluster, slot)
    target = next(p for p in cluster.primaries() if p != source)
    src, dst = cluster.node(source), cluster.node(target)
    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", _node_id(cluster, source))
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", _node_id(cluster, target))
    batches = 0
    while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 3):
        assert step.acquire(timeout=60), "the load stopped"
        src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
        batches += 1
    for port in cluster.primaries():
        cluster.node(port).execute_command(
            "CLUSTER SETSLOT", slot, "NODE", _node_id(cluster, target)
        )
    return batches


async def test_a_slot_migrating_under_load_loses_no_acknowledged_write(
    db_url: str, redis_cluster: Cluster
) -> None:
    """Creates, loads and updates of one user's sessions run while the user's slot moves to
    another primary (``ASK`` during, ``MOVED`` after): a write may fail (a 503, a script whose
    keys are split over both nodes for a moment), but every acknowledged one is there after."""
    store = await _store(db_url)
    try:
        user = "mover"
        acknowledged = {}
        for i in range(30):
            r = _record(user, i=i)
            await store.create(r)
            acknowledged[r.id] = r.data
        slot = _slot_of(store._user_base("=" + user) + "ut")
        step = threading.Semaphore(0)
        done = asyncio.Event()
        unavailable = 0

        async def load() -> None:
            nonlocal unavailable
            i = 0
            while not done.is_set():
                i += 1
                try:
                    r = _record(user, i=1000 + i)
                    await store.create(r)
                    acknowledged[r.id] = r.data
                    some = list(acknowledged)[i % len(acknowledged)]
                    loaded = await store.load(some)
                    assert loaded is not None and loaded.data == acknowledged[some]
                    loaded.data["seen"] = i
                    if await store.update(loaded):
                        acknowledged[some] = dict(loaded.data)
                except SessionStoreUnavailable:
                    unavailable += 1
                step.release()
                await asyncio.sleep(0)

        task = asyncio.create_task(load())
        try:
            batches = await asyncio.to_thread(_migrate_slot, redis_cluster, slot, step)
        finally:
            done.set()
            await task
        assert batches >= 10  # the load ran between the batches of one slot's move
        assert _owner(redis_cluster, slot) != 0
        for sid, data in acknowledged.items():
            loaded = await store.load(sid)
            assert loaded is not None, sid[:6]
            assert loaded.data == data
        assert await store.count_sessions_for_user(user) == len(acknowledged)
    finally:
        await store.close()


def _slot_of(key: str) -> int:
    from redis.crc import key_slot

    return int(key_slot(key.encode()))


def _replica_of(cluster: Cluster, primary: int) -> int:
    for port in cluster.procs:
        if port == primary:
            continue
        info = cluster.node(port).info("replication")
        if info.get("role") == "slave" and int(info.get("master_port", 0)) == primary:
            return port
    raise AssertionError(f"no replica of {primary}")


async def test_a_primary_failing_over_costs_503s_and_no_restart(
    db_url: str, redis_cluster: Cluster
) -> None:
    """The primary of a user's slot is killed: until its replica takes over, the store's
    commands fail as unavailable (503) and nothing else; then the same store object loads
    the session (replicated before the kill) and writes again, with no restart."""
    if not redis_cluster.procs:
        pytest.skip("the failover test kills a node: it needs the cluster the tests start")
    store = await _store(db_url)
    try:
        record = _record("survivor", n=1)
        await store.create(record)
        primary = _owner(redis_cluster, _slot_of(await store.stored_key(at_rest_id(record.id))))
        replica = _replica_of(redis_cluster, primary)
        redis_cluster.node(primary).execute_command("WAIT", 1, 5000)  # the replica has it
        os.kill(redis_cluster.procs[primary].pid, signal.SIGKILL)
        redis_cluster.procs[primary].wait()
        unavailable = 0
        loaded = None
        deadline = asyncio.get_running_loop().time() + 60
        while loaded is None:
            assert asyncio.get_running_loop().time() < deadline, "no failover within 60 s"
            try:
                loaded = await store.load(record.id)
                assert loaded is not None
            except SessionStoreUnavailable:
                unavailable += 1
                await asyncio.sleep(0.05)  # polling the cluster's own failover
        assert loaded.data == record.data
        assert unavailable >= 1  # the kill was seen, as a 503
        assert (
            _owner(redis_cluster, _slot_of(await store.stored_key(at_rest_id(record.id))))
            == replica
        )
        again = await store.create(_record("survivor", n=2))
        assert await store.count_sessions_for_user("survivor") == 2
        assert (await store.load(again.id)) is not None
    finally:
        await store.close()
        redis_cluster.start_node(primary)  # it rejoins as a replica of the new primary
        redis_cluster.wait_ok()
        wait_until(lambda: _replica_of(redis_cluster, replica) == primary, "no rejoin", 60)


async def test_a_redis_url_at_a_cluster_node_names_the_cluster_url(redis_cluster: Cluster) -> None:
    store = RedisSessionStore(f"redis://127.0.0.1:{redis_cluster.ports[0]}/0")
    try:
        with pytest.raises(SessionConfigError, match=r"redis\+cluster://"):
            await store.migrate()
    finally:
        await store.close()


async def test_rate_limits_and_counters_run_on_the_cluster(db_url: str) -> None:
    store = await _store(db_url)
    try:
        limits = store.limit_storage()
        now = 1_000_000
        decisions = [(await limits.hit("login:alice", 2, 60_000, now + i))[0] for i in range(3)]
        assert decisions == [True, True, False]
        assert await limits.counter_add("failed:alice", 1, 10, 60_000, now) == (True, 1)
        assert await limits.delete_matching("login:", "") == 1
    finally:
        await store.close()


async def test_an_unreachable_cluster_is_a_503_without_the_password() -> None:
    from ..support.redis_cluster import free_port

    port = free_port()
    store = RedisClusterSessionStore(f"redis+cluster://:hunter2@127.0.0.1:{port}", timeout=1)
    try:
        with pytest.raises(SessionStoreUnavailable) as caught:
            await store.load(new_session_id())
        assert "hunter2" not in str(caught.value)
        with pytest.raises(SessionStoreUnavailable):
            await store.limit_storage().hit("k", 1, 1000, 0)
    finally:
        await store.close()


def test_the_cli_counts_and_clears_on_the_cluster(db_url: str, tmp_path: Path) -> None:
    """``count-user`` answers from the user's slot; ``clear-all`` visits every primary in
    batches and says how many it deleted."""

    async def seed() -> None:
        backend = SessionStoreBackend.from_url(db_url)
        try:
            for user in ("alice", "alice", "bob", None):
                await backend.create(_record(user))
        finally:
            await backend.close()

    asyncio.run(seed())
    env = {"SESSION_DB_URL": db_url}
    out = run("count-user", "alice", data_dir=tmp_path, env=env)
    assert ok(out).strip() == "2 live sessions for user alice"
    cleared = ok(run("clear-all", "--yes", "--batch-size", "1", data_dir=tmp_path, env=env))
    assert "4" in cleared
    assert ok(run("count-user", "alice", data_dir=tmp_path, env=env)).strip().startswith("0")
