"""Redis Cluster: a login as the middleware makes one (``new_id`` for the record, then
``rotate`` into it) computes the new id's slot tag once, and ends as before: the session
under its user's tag, read back by its id. An id the store did not draw is tagged by
``rotate`` as ever."""

from __future__ import annotations

from typing import Any

import pytest

from session_service.stores.redis_cluster import slots
from session_service.stores.redis_cluster import store as cluster_store
from session_service.stores.redis_cluster.slots import tag_of

from ..support.redis_cluster import Cluster
from .test_redis_cluster import _record, _store

pytestmark = pytest.mark.stores("redis_cluster")


def _count_tagging(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids the store tags from now on (the real ``tagged`` runs: only counted)."""
    real, seen = slots.tagged, []  # what the store module imported

    def counted(session_id: str, slot: int) -> str:
        seen.append(session_id)
        return real(session_id, slot)

    monkeypatch.setattr(cluster_store, "tagged", counted)
    return seen


async def test_a_login_tags_its_new_id_once(
    db_url: str, redis_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _store(db_url)
    anonymous = await store.create(_record(cart=1))
    seen = _count_tagging(monkeypatch)
    login = _record("alice", cart=1)
    login.id = store.new_id(login)  # what the middleware does before a login's rotate
    drawn = login.id
    assert await store.rotate(anonymous.id, login)
    assert len(seen) == 1
    assert login.id == drawn and tag_of(drawn) is not None
    loaded = await store.load(login.id)
    assert loaded is not None and loaded.data == {"user_id": "alice", "cart": 1}


async def test_a_login_into_an_id_drawn_for_someone_else_is_tagged_for_its_user(
    db_url: str, redis_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _store(db_url)
    anonymous = await store.create(_record(cart=1))
    for_bob = store.new_id(_record("bob"))
    login: Any = _record("alice")
    login.id = for_bob  # drawn for another user: rotate tags it for alice
    assert await store.rotate(anonymous.id, login)
    assert tag_of(login.id) == tag_of(store.new_id(_record("alice"))) != tag_of(for_bob)
    assert (await store.load(login.id)) is not None
