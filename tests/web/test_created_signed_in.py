"""A session created already signed in (the app sets ``session["user_id"]`` on a request that
sent no cookie) gets its id from its store, on every store kind (docs/stores.md, "Redis
Cluster"): on a Redis Cluster the id names the slot of the user's keys, as a login's does, so
its loads are one ``GET`` (tests/stores/test_cluster_created_signed_in.py counts them);
everywhere else it is a plain id and everything behaves as before."""

from __future__ import annotations

import asyncio
import string
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from session_service import DefaultSessionService, MemorySessionStore, SessionRecord
from session_service.backend import SessionStoreBackend
from session_service.cache import CachedSessionStore
from session_service.records import new_session_id, utcnow
from session_service.stores.memory import forget
from session_service.stores.redis_cluster.slots import SEPARATOR, tag_of

from ..support.cookies import session_id_of
from ..support.webapp import build_app, migrated_service, settings_for

_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")


def _random_part(session_id: str) -> str:
    """The id without its slot tag (if it has one): what carries the randomness."""
    return session_id[: -1 - 3] if tag_of(session_id) is not None else session_id


@pytest.fixture
async def service(db_url: str, tmp_path: Path) -> AsyncIterator[DefaultSessionService]:
    async with migrated_service(db_url, str(tmp_path)) as svc:
        yield svc


def _client(service: DefaultSessionService) -> httpx.AsyncClient:
    app = build_app(service)
    app.state.other_service = service
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _created_signed_in(client: httpx.AsyncClient, user: Any, **data: Any) -> str:
    """The first request of a browser sets ``user_id``: the session is created signed in."""
    assert "session_id" not in client.cookies
    response = await client.post("/set-json", json={"user_id": user, **data})
    assert response.status_code == 200 and "set-cookie" in response.headers
    return session_id_of(client)


async def test_a_session_created_signed_in_gets_its_stores_id_and_round_trips(
    service: DefaultSessionService, store_kind: str
) -> None:
    ids = []
    for user in ("alice", "alice", 42):
        async with _client(service) as client:
            sid = await _created_signed_in(client, user, cart=[1, 2])
            read = (await client.get("/read")).json()
            assert read == {"data": {"user_id": user, "cart": [1, 2]}, "id": sid}
            ids.append(sid)
    tags = [tag_of(sid) for sid in ids]
    if store_kind == "redis_cluster":
        # the id names the user's slot, the same for both of alice's sessions
        assert all(t is not None for t in tags) and tags[0] == tags[1]
    else:
        assert tags == [None, None, None]  # a plain id, as before
    plain = len(new_session_id())
    for sid in ids:
        random = _random_part(sid)
        # all of new_session_id()'s randomness (256 bits), at least the 128 bits ids promise
        assert len(random) == plain and len(random) * 6 >= 128 and _ALPHABET.issuperset(random)
    assert len({_random_part(sid) for sid in ids}) == len(ids)


async def test_the_tag_of_a_created_session_is_the_one_a_login_gives(
    service: DefaultSessionService, store_kind: str
) -> None:
    async with _client(service) as created, _client(service) as logged_in:
        sid = await _created_signed_in(created, "bob")
        await logged_in.post("/set", params={"cart": "1"})
        anonymous = session_id_of(logged_in)
        await logged_in.post("/login", params={"user": "bob"})
        login = session_id_of(logged_in)
        assert tag_of(anonymous) is None  # anonymous: no user, no slot to name
        assert tag_of(sid) == tag_of(login)
        assert (tag_of(sid) is not None) is (store_kind == "redis_cluster")


async def test_an_anonymous_session_created_stays_untagged(
    service: DefaultSessionService,
) -> None:
    async with _client(service) as client:
        await client.post("/set", params={"color": "blue"})
        sid = session_id_of(client)
        assert tag_of(sid) is None and SEPARATOR not in sid
        assert (await client.get("/read")).json() == {"data": {"color": "blue"}, "id": sid}


async def test_a_session_created_signed_in_is_revoked_by_user_by_handle_and_at_logout(
    service: DefaultSessionService,
) -> None:
    async with (
        _client(service) as first,
        _client(service) as second,
        _client(service) as third,
        _client(service) as other_user,
    ):
        await _created_signed_in(first, "carol", n=1)
        await _created_signed_in(second, "carol", n=2)
        await _created_signed_in(third, "carol", n=3)
        await _created_signed_in(other_user, "dave", n=4)
        assert await service.count_sessions_for_user("carol") == 3
        listed = await service.get_session_store().list_sessions_for_user("carol")
        handle = next(r.handle for r in listed if r.data["n"] == 1)
        assert handle is not None and handle in await service.get_session_ids_for_user("carol")
        assert await service.get_session_store().revoke_user_session("carol", handle)
        assert (await first.get("/read")).json()["data"] == {}
        await third.post("/logout")
        assert (await third.get("/read")).json()["data"] == {}
        assert await service.clear_sessions_for_user("carol") == 1  # second's, the last
        assert (await second.get("/read")).json()["data"] == {}
        assert (await other_user.get("/read")).json()["data"] == {"user_id": "dave", "n": 4}


@pytest.mark.stores("postgres", "redis")
async def test_behind_the_read_cache_a_created_session_gets_its_stores_id(
    db_url: str, tmp_path: Path
) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_CACHE="local")
    service = DefaultSessionService(db_url, settings)
    await service.migrate()
    cached = service.get_session_store().store
    assert isinstance(cached, CachedSessionStore)
    try:
        # Listening first, as every cache test does: a close while the channel is still
        # subscribing can wait forever on Redis (a separate bug, reported with issue 23).
        async with asyncio.timeout(10):
            await cached.wait_listening()
        async with _client(service) as client:
            sid = await _created_signed_in(client, "erin", n=1)
            assert tag_of(sid) is None  # the cache asks its store: a plain id there
            assert (await client.get("/read")).json()["data"] == {"user_id": "erin", "n": 1}
        assert await service.clear_sessions_for_user("erin") == 1
    finally:
        await service.close()


class _OwnStore:
    """A store of a user's own, by composition over a memory store, that predates the id
    hook: it has no ``new_id``, so the backend gives its sessions plain ids."""

    def __init__(self, url: str) -> None:
        self._inner = MemorySessionStore(url)

    def __getattr__(self, name: str) -> Any:
        if name == "new_id":
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.mark.stores("memory")
async def test_a_store_of_your_own_without_the_hook_gets_plain_ids(
    db_url: str, tmp_path: Path
) -> None:
    backend = SessionStoreBackend(_OwnStore(db_url))
    record = SessionRecord("", {"user_id": "frank"}, utcnow())
    assert tag_of(backend.new_id(record)) is None and len(backend.new_id(record)) == len(
        new_session_id()
    )
    service = DefaultSessionService(backend, settings_for(db_url, str(tmp_path)))
    try:
        async with _client(service) as client:
            sid = await _created_signed_in(client, "frank", n=1)
            assert tag_of(sid) is None
            assert (await client.get("/read")).json() == {
                "data": {"user_id": "frank", "n": 1},
                "id": sid,
            }
    finally:
        await service.close()
        forget(db_url)
