"""Moving live sessions between stores signs nobody out (issue 28, API.md §15): a cookie issued
by a service on store A loads, with its data, handle, device fields and deadlines, through a
service on store B after ``session-service copy``, in every direction among SQLite,
PostgreSQL and Redis; and a chain SQLite → PostgreSQL → Redis → SQLite through export files
keeps every session, a second import of each file changing nothing."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from session_service import DefaultSessionService, SessionStoreBackend
from session_service.records import SessionRecord

from ..cli.test_cli import ok, run
from ..conftest import (
    create_pg_database,
    drop_pg_database,
    redis_keys_without_ttl_then_delete,
    redis_test_url,
    sqlite_url,
)
from ..support.webapp import build_app, settings_for

SERVER_STORES = ("sqlite", "postgres", "redis")

#: Every setting a copy has to carry: device fields, an absolute lifetime.
ENV = {"SESSION_TRACK_DEVICES": "true", "SESSION_ABSOLUTE_TTL_SECONDS": str(30 * 24 * 3600)}


@pytest.fixture
def urls(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """A fresh, empty store of each server kind (two SQLite files: the chain ends on another)."""
    pg_server = request.getfixturevalue("pg_server_url")
    redis_server = request.getfixturevalue("redis_server_url")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    made = {
        "sqlite": sqlite_url(tmp_path / "a"),
        "sqlite2": sqlite_url(tmp_path / "b"),
        "postgres": create_pg_database(pg_server),
        "redis": redis_test_url(redis_server),
    }
    try:
        yield made
    finally:
        drop_pg_database(made["postgres"])
        assert not redis_keys_without_ttl_then_delete(made["redis"])


class Site:
    """A service on one store, and a browser on it."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.service = DefaultSessionService(
            SessionStoreBackend.from_url(url), settings_for(url, str(data_dir), **ENV)
        )
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(self.service), client=("198.51.100.4", 1)),
            base_url="http://testserver",
            headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0"},
        )

    async def close(self) -> None:
        await self.client.aclose()
        await self.service.close()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Site] = []

    async def make(url: str) -> Site:
        made.append(Site(url, tmp_path))
        await made[-1].service.migrate()
        return made[-1]

    yield make
    for s in made:
        await s.close()


async def sign_in(site: Site, user: str) -> httpx.Cookies:
    """A browser that logs in and puts something in its session; its cookies."""
    site.client.cookies.clear()
    assert (await site.client.post("/login", params={"user": user})).status_code == 200
    assert (await site.client.post("/set", params={"cart": f"{user}'s cart"})).status_code == 200
    cookies = httpx.Cookies(site.client.cookies)
    site.client.cookies.clear()
    return cookies


async def read_with(site: Site, cookies: httpx.Cookies) -> dict[str, Any]:
    site.client.cookies = cookies
    response = await site.client.get("/read")
    site.client.cookies.clear()
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def devices(records: list[SessionRecord]) -> list[tuple[Any, ...]]:
    return sorted(
        (r.handle, r.user_id, r.tenant_id, r.created_at, r.last_seen, r.expiry_date,
         r.ip, r.user_agent, r.absolute_expiry, r.data)
        for r in records
    )  # fmt: skip


@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(SERVER_STORES, 2)))
async def test_a_cookie_from_the_source_works_on_the_target_after_a_copy(
    source: str, target: str, urls: dict[str, str], site: Any, tmp_path: Path
) -> None:
    a: Site = await site(urls[source])
    b: Site = await site(urls[target])  # migrated: a copy needs the target's schema
    cookies = {user: await sign_in(a, user) for user in ("alice", "bob")}
    seen = {user: await read_with(a, c) for user, c in cookies.items()}
    before = await a.service.get_session_store().dump_all_sessions()
    assert len(before) == 2 and await read_with(b, cookies["alice"]) != seen["alice"]

    copied = run("--db-url", urls[source], "copy", "--to", urls[target], "--json",
                 data_dir=tmp_path, env=ENV)  # fmt: skip
    assert json.loads(ok(copied))["session"] == {"written": 2, "unchanged": 0, "expired": 0}

    for user, c in cookies.items():
        assert await read_with(b, c) == seen[user]  # same id, same data: still signed in
    after = await b.service.get_session_store().dump_all_sessions()
    assert devices(after) == devices(before)
    [listed] = await b.service.list_user_sessions("alice")
    assert listed.device == "Firefox on Linux" and listed.ip == "198.51.100.4"
    again = run("--db-url", urls[source], "copy", "--to", urls[target], "--json",
                data_dir=tmp_path, env=ENV)  # fmt: skip
    assert json.loads(ok(again))["session"] == {"written": 0, "unchanged": 2, "expired": 0}


async def test_a_chain_through_every_store_keeps_every_session(
    urls: dict[str, str], site: Any, tmp_path: Path
) -> None:
    first: Site = await site(urls["sqlite"])
    cookies = [await sign_in(first, f"user{i}") for i in range(5)]
    seen = [await read_with(first, c) for c in cookies]
    original = devices(await first.service.get_session_store().dump_all_sessions())
    chain = ["sqlite", "postgres", "redis", "sqlite2"]
    for hop, (source, target) in enumerate(itertools.pairwise(chain)):
        here: Site = await site(urls[target])
        dump = tmp_path / f"hop{hop}.jsonl"
        exported = run("--db-url", urls[source], "export", "-o", str(dump), "--json",
                       data_dir=tmp_path, env=ENV)  # fmt: skip
        assert exported.returncode == 0 and "live credentials" in exported.stderr
        assert json.loads(exported.stdout)["sessions"] == 5
        assert dump.stat().st_mode & 0o777 == 0o600
        for expected in ({"written": 5, "unchanged": 0}, {"written": 0, "unchanged": 5}):
            done = run("--db-url", urls[target], "import", str(dump), "--json",
                       data_dir=tmp_path, env=ENV)  # fmt: skip
            assert json.loads(ok(done))["session"] == {**expected, "expired": 0}
        assert devices(await here.service.get_session_store().dump_all_sessions()) == original
        for c, data in zip(cookies, seen, strict=True):
            assert await read_with(here, c) == data
