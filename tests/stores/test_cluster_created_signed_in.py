"""Redis Cluster: a session created already signed in through the middleware (no cookie
before the request that sets ``user_id``) gets an id with its user's slot tag from the store
(``SessionStoreBase.new_id``), so every later read of it is one ``GET``, counted on the real
cluster's nodes, as for a session signed in by a login (tests/stores/test_cluster_slot_tags.py).
What holds on every store kind is in tests/web/test_created_signed_in.py."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from session_service import DefaultSessionService, SessionRecord, SessionStoreBackend
from session_service.cache import CachedSessionStore
from session_service.cache.channel import RevocationChannel
from session_service.cache.local import LocalCache
from session_service.records import utcnow
from session_service.storable import at_rest_id
from session_service.stores.redis_cluster import RedisClusterSessionStore
from session_service.stores.redis_cluster.slots import tag_of

from ..support.cookies import session_id_of
from ..support.redis_cluster import Cluster
from ..support.webapp import migrated_service
from ..web.test_created_signed_in import _client, _created_signed_in
from .test_cluster_slot_tags import _counted
from .test_redis_cluster import _slot

pytestmark = pytest.mark.stores("redis_cluster")


@pytest.fixture
async def service(db_url: str, tmp_path: Path) -> AsyncIterator[DefaultSessionService]:
    async with migrated_service(db_url, str(tmp_path)) as svc:
        yield svc


def _store(service: DefaultSessionService) -> RedisClusterSessionStore:
    store = service.get_session_store().store
    assert isinstance(store, RedisClusterSessionStore)
    return store


async def test_a_session_created_signed_in_reads_in_one_get(
    service: DefaultSessionService, redis_cluster: Cluster
) -> None:
    store = _store(service)
    async with _client(service) as client:
        sid = await _created_signed_in(client, "alice", cart=[1])
        assert tag_of(sid) is not None
        response, ran = await _counted(redis_cluster, lambda: client.get("/read"))
        assert response.json()["data"] == {"user_id": "alice", "cart": [1]}
        assert ran == 1  # the request's whole store work: one GET where the tag says
        loaded, ran = await _counted(redis_cluster, lambda: store.load(sid))
        assert loaded is not None and loaded.user_id == "alice" and ran == 1
        # filed under the tag, in the slot of alice's index (her per-user scripts' slot)
        key = await store.stored_key(at_rest_id(sid))
        assert key.startswith(f"{store.key_prefix}{{@{tag_of(sid)}}}s:")
        nodes = redis_cluster.client()
        try:
            index = store._user_base("=alice") + "u"
            assert _slot(nodes, key) == _slot(nodes, index)
        finally:
            nodes.close()
        response = await client.post("/set", params={"n": "2"})  # a patch: same id, same slot
        assert response.status_code == 200 and session_id_of(client) == sid
        response, ran = await _counted(redis_cluster, lambda: client.get("/read"))
        assert response.json()["data"]["n"] == "2" and ran == 1


async def test_a_user_created_signed_in_on_many_devices_stays_in_one_slot_under_a_cap(
    db_url: str, tmp_path: Path, redis_cluster: Cluster
) -> None:
    capped = migrated_service(db_url, str(tmp_path), SESSION_MAX_PER_USER="2")
    async with (
        capped as service,
        _client(service) as a,
        _client(service) as b,
        _client(service) as c,
    ):
        first = await _created_signed_in(a, 7, n=1)  # an int user id, stored as "7"
        second = await _created_signed_in(b, "7", n=2)
        third = await _created_signed_in(c, 7, n=3)  # over the cap: the oldest goes
        assert tag_of(first) == tag_of(second) == tag_of(third) is not None
        assert (await a.get("/read")).json()["data"] == {}
        for n, client in enumerate((b, c), start=2):
            read = functools.partial(client.get, "/read")
            response, ran = await _counted(redis_cluster, read)
            assert response.json()["data"]["n"] == n and ran == 1
        assert await service.count_sessions_for_user(7) == 2
        assert await service.clear_sessions_for_user("7") == 2
        assert (await b.get("/read")).json()["data"] == {}


def test_the_id_hook_reaches_the_cluster_through_the_backend_and_a_read_cache() -> None:
    """No I/O: an id is drawn, never stored. A read cache (not offered on a cluster yet,
    docs/configuration.md) is a store in front of a store and asks the one behind it."""
    store = RedisClusterSessionStore("redis+cluster://127.0.0.1:1")
    cache = LocalCache(10, 2.0)
    cached = CachedSessionStore(store, cache, RevocationChannel(cache, timeout=1.0))
    signed_in = SessionRecord("", {"user_id": "grace"}, utcnow())
    anonymous = SessionRecord("", {"cart": 1}, utcnow())
    for minter in (store, cached, SessionStoreBackend(store), SessionStoreBackend(cached)):
        drawn = minter.new_id(signed_in)
        assert tag_of(drawn) == tag_of(store.new_id(signed_in)) is not None
        assert drawn != minter.new_id(signed_in)  # fresh each time
        assert tag_of(minter.new_id(anonymous)) is None
