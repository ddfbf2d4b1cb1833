"""Redis Cluster: a signed-in session's id names its slot, so a load is one ``GET``
(session_service/stores/redis_cluster/slots.py), and sessions filed the way earlier versions
filed them (no slot tag) keep working beside them, counted on the real cluster's nodes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from session_service import SessionRecord
from session_service.records import utcnow
from session_service.storable import at_rest_id
from session_service.stores.redis_cluster import RedisClusterSessionStore
from session_service.stores.redis_cluster.slots import SEPARATOR, slot_tag, tag_of

from ..support.redis_cluster import Cluster
from .test_redis_cluster import _record
from .test_redis_cluster import _store as _cluster_store

pytestmark = pytest.mark.stores("redis_cluster")
T = TypeVar("T")
#: Commands a count leaves out: the counting itself, and a replica's own ``REPLCONF`` to its
#: primary (it lands in the primary's ``commandstats`` whenever the replica sends it).
_NOT_COUNTED = {"info", "config|resetstat", "config", "replconf"}


class _PreUpgradeStore(RedisClusterSessionStore):
    """Files sessions as the store did before slot tags: ids untouched, values under the
    user's hash tag (``P{=<user>}s:<id>``), pointers and index members without a tag."""

    def _home(self, utag: str) -> str:
        return utag

    def _slot_id(self, session_id: str, user_id: str | None) -> str:
        return session_id


async def _signed_in(store: RedisClusterSessionStore, user: str, **data: Any) -> SessionRecord:
    """A session signed in as the middleware signs one in: created anonymous, then rotated."""
    anonymous = await store.create(_record(**data))
    login = _record(user, **data)
    assert await store.rotate(anonymous.id, login)
    assert tag_of(login.id) is not None
    return login


async def _store(url: str, kind: type[RedisClusterSessionStore] = RedisClusterSessionStore) -> Any:
    store = await _cluster_store(url)
    store.__class__ = kind  # same URL and options, the layout of ``kind``
    return store


async def _counted(cluster: Cluster, call: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """``call()``'s result and how many commands every primary ran for it (their own
    ``commandstats``, reset first)."""
    nodes = [cluster.node(port) for port in cluster.primaries()]
    try:
        for node in nodes:
            node.config_resetstat()
        result = await call()
        ran = 0
        for node in nodes:
            for name, stat in node.info("commandstats").items():
                if name.removeprefix("cmdstat_") not in _NOT_COUNTED:
                    ran += int(stat["calls"])
        return result, ran
    finally:
        for node in nodes:
            node.close()


async def test_a_signed_in_load_is_one_command(db_url: str, redis_cluster: Cluster) -> None:
    store = await _store(db_url)
    try:
        anonymous = await store.create(_record(cart=2))
        login = _record("bob", cart=2)
        assert await store.rotate(anonymous.id, login)  # a login: the new id names bob's slot
        assert tag_of(anonymous.id) is None and tag_of(login.id) is not None
        again = _record("alice", cart=1)
        assert await store.rotate(login.id, again)  # a change of owner rotates too
        assert tag_of(again.id) is not None
        loaded, ran = await _counted(redis_cluster, lambda: store.load(again.id))
        assert loaded is not None and loaded.user_id == "alice" and ran == 1
        loaded, ran = await _counted(redis_cluster, lambda: store.load(login.id))
        assert loaded is None and ran == 2  # a gone tagged id: its GET, then its id key's
        created = await store.create(_record("alice", cart=3))  # create keeps a free id
        assert tag_of(created.id) is None
        loaded, ran = await _counted(redis_cluster, lambda: store.load(created.id))
        assert loaded is not None and ran == 2  # the pointer, then the value
        loaded, ran = await _counted(redis_cluster, lambda: store.load(anonymous.id))
        assert loaded is None and ran == 1  # anonymous: one GET, as before
    finally:
        await store.close()


async def test_a_session_filed_before_slot_tags_loads_and_changes(
    db_url: str, redis_cluster: Cluster
) -> None:
    old = await _store(db_url, _PreUpgradeStore)
    store = await _store(db_url)
    try:
        before = await old.create(_record("carol", n=1))
        assert tag_of(before.id) is None
        assert (await old.stored_key(at_rest_id(before.id))).startswith(old.key_prefix + "{=")
        loaded, ran = await _counted(redis_cluster, lambda: store.load(before.id))
        assert loaded is not None and loaded.data["n"] == 1
        assert ran == 2  # the pointer, then the value: today's path
        assert await store.patch(before.id, {"n": 2}, ())
        assert await store.touch(before.id, utcnow() + timedelta(hours=2))
        after = await _signed_in(store, "carol", n=3)  # a new one, tagged, same user
        assert tag_of(after.id) is not None
        assert await store.count_sessions_for_user("carol") == 2
        listed = await store.list_sessions_for_user("carol")
        assert sorted(r.data["n"] for r in listed) == [2, 3]
        handle = next(r.handle for r in listed if r.data["n"] == 2)
        assert handle is not None and await store.revoke_user_session("carol", handle)
        assert await store.load(before.id) is None
        third = await old.create(_record("carol", n=4))
        login = _record("carol", n=4)
        assert await store.rotate(third.id, login)  # within the user: to a tagged id
        assert tag_of(login.id) is not None
        assert (await store.load(login.id)).data["n"] == 4
        assert await store.clear_sessions_for_user("carol") == 2
        assert await store.load(after.id) is None and await store.load(login.id) is None
    finally:
        await old.close()
        await store.close()


async def test_the_per_user_cap_counts_sessions_of_both_layouts(
    db_url: str, redis_cluster: Cluster
) -> None:
    old = await _store(db_url, _PreUpgradeStore)
    store = await _store(db_url)
    store.max_per_user = 2
    try:
        first = await old.create(_record("dave", n=1))
        await _signed_in(store, "dave", n=2)
        await _signed_in(store, "dave", n=3)  # over the cap: the least recently used goes
        assert await store.load(first.id) is None
        assert sorted(r.data["n"] for r in await store.list_sessions_for_user("dave")) == [2, 3]
        assert await store.clear_sessions_for_user("dave") == 2
    finally:
        await old.close()
        await store.close()


async def test_an_edited_tag_misses_and_never_reads_another_slot(
    db_url: str, redis_cluster: Cluster
) -> None:
    store = await _store(db_url)
    try:
        alice = await _signed_in(store, "alice", secret="a")
        erin = await _signed_in(store, "erin", secret="e")
        base, _, tag = alice.id.rpartition(SEPARATOR)
        other = next(slot_tag(s) for s in range(16384) if slot_tag(s) != tag)
        forged = [
            f"{base}{SEPARATOR}{other}",  # another slot's tag
            f"{base}{SEPARATOR}{erin.id[-3:]}",  # erin's slot's tag
            f"{base}{SEPARATOR}{{}}x",  # braces: not a tag (a hash tag's end in a key)
            f"{base}{SEPARATOR}a:",  # too short, and a key separator
            f"{base}{SEPARATOR}%3A",
            base,  # no tag at all
            f"{erin.id[:-3]}{tag}",  # erin's id with alice's slot's tag
        ]
        for sid in forged:
            assert await store.load(sid) is None, sid
            assert not await store.patch(sid, {"x": 1}, ())
        assert (await store.load(alice.id)).data["secret"] == "a"
        assert (await store.load(erin.id)).data["secret"] == "e"
    finally:
        await store.close()


async def test_a_tagged_session_that_changes_owner_without_a_new_id_still_loads(
    db_url: str, redis_cluster: Cluster
) -> None:
    store = await _store(db_url)
    try:
        record = await _signed_in(store, "frank", n=1)
        record.data["user_id"] = "grace"  # a save keeps the id: the tag names frank's slot
        await store.save(record)
        loaded = await store.load(record.id)
        assert loaded is not None and loaded.user_id == "grace" and loaded.data["n"] == 1
        assert await store.count_sessions_for_user("frank") == 0
        record.data.pop("user_id")
        await store.save(record)  # signed out, same id: filed at its id key
        loaded = await store.load(record.id)
        assert loaded is not None and loaded.user_id is None
        assert await store.count_sessions_for_user("grace") == 0
    finally:
        await store.close()


async def test_export_and_import_keep_tagged_sessions_one_get(
    db_url: str, redis_cluster: Cluster
) -> None:
    store = await _store(db_url)
    try:
        record = await _signed_in(store, "heidi", n=1)
        rows = [row async for batch in store.export_sessions() for row in batch]
        await store.clear_all_sessions()
        assert await store.load(record.id) is None
        await store.import_sessions(rows)
        loaded, ran = await _counted(redis_cluster, lambda: store.load(record.id))
        assert loaded is not None and loaded.data["n"] == 1 and ran == 1
    finally:
        await store.close()


def test_every_slot_has_a_tag_that_lands_there() -> None:
    tags = {slot_tag(slot) for slot in range(16384)}  # each asserts where its tag lands
    assert len(tags) == 16384 and all(len(t) == 3 and tag_of("x~" + t) == t for t in tags)
