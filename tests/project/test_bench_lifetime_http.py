"""``python -m benchmarks.lifetime_http``'s apps and its login route (issue 21): the read apps
serve, a login really rotates an anonymous session and ``SESSION_MAX_PER_USER`` holds after a
short wrk run. Real uvicorn servers and stores (PostgreSQL and Redis when ``SESSION_TEST_PG_URL``
/ ``SESSION_TEST_REDIS_URL`` name servers); nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
import os
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

import pytest

from benchmarks import lifetime_http
from benchmarks._common import BenchmarkFailed, Kind, scratch_database
from benchmarks.http_bench import Server, start_server, stop_server
from benchmarks.per_core import _migrate
from benchmarks.redis_bench import delete_prefix, new_prefix, with_prefix


def _get(server: Server, path: str, cookie: str = "", method: str = "GET") -> tuple[str, str]:
    """The body and the new session cookie (``""`` when none was set) of one request."""
    headers = {"Cookie": cookie} if cookie else {}
    req = urllib.request.Request(f"{server.base}{path}", headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode(), r.headers.get("set-cookie", "").split(";", 1)[0]


Store = Literal["sqlite", "postgres", "redis"]
Body = Callable[[str, str], Awaitable[None]]


def _stores() -> list[Store]:
    kinds: list[Store] = ["sqlite"]
    if os.environ.get("SESSION_TEST_PG_URL", "").strip():
        kinds.append("postgres")
    if os.environ.get("SESSION_TEST_REDIS_URL", "").strip():
        kinds.append("redis")
    return kinds


async def _with_store(kind: Store, tmp_path: Path, body: Body) -> None:
    """Run ``body(db, url)`` on a fresh migrated store of ``kind``, removed after."""
    if kind == "redis":
        base, prefix = os.environ["SESSION_TEST_REDIS_URL"].strip(), new_prefix("lifetime")
        try:
            await body("redis", with_prefix(base, prefix))
        finally:
            await delete_prefix(base, prefix)
        return
    pg = os.environ.get("SESSION_TEST_PG_URL", "").strip()
    db_kind: Kind = kind
    async with scratch_database(db_kind, pg, tmp_path) as url:
        await _migrate(url)
        await body("sqlite" if kind == "sqlite" else "pg", url)


@pytest.mark.parametrize("kind", [k for k in _stores() if k != "redis"])
def test_the_read_apps_serve_with_and_without_the_absolute_ttl(tmp_path: Path, kind: Store) -> None:
    async def body(db: str, url: str) -> None:
        for variant in lifetime_http.read_specs({db: url}).values():
            server = await asyncio.to_thread(start_server, variant[0], variant[1])
            try:
                assert _get(server, "/read", server.cookie)[0] == "1"
            finally:
                await asyncio.to_thread(stop_server, server)

    asyncio.run(_with_store(kind, tmp_path, body))


@pytest.mark.parametrize("kind", _stores())
def test_a_login_rotates_an_anonymous_session_and_the_cap_holds(
    tmp_path: Path, kind: Store
) -> None:
    async def body(db: str, url: str) -> None:
        for limit in (lifetime_http.LIMIT, 0):
            server = await asyncio.to_thread(lifetime_http.start_login_server, url, limit)
            user, prefix = f"direct-{limit}", f"wrk-{limit}-"
            try:
                for _ in range(lifetime_http.LIMIT + 3):
                    text, anon = _get(server, "/anon")
                    assert anon, "the login page starts an anonymous session"
                    text, signed_in = _get(server, f"/login?user={user}", anon, "POST")
                    assert text == "login" and signed_in and signed_in != anon
                    assert _get(server, "/read", anon)[0] == "-", "the old id is dead"
                    assert _get(server, "/read", signed_in)[0] == "0", "data kept"
                with pytest.raises(urllib.error.HTTPError) as no_session:
                    _get(server, f"/login?user={user}", "", "POST")
                assert no_session.value.code == 409, "a login needs an anonymous session"
                with pytest.raises(urllib.error.HTTPError):
                    _get(server, f"/login?user={user}", signed_in, "POST")  # signed in already
                result = await asyncio.to_thread(lifetime_http.run_login_wrk, server, prefix, 1.0)
            finally:  # the check counts what the logins left, none of them still running
                await asyncio.to_thread(stop_server, server)
            expected = lifetime_http.LIMIT if limit else lifetime_http.LIMIT + 3
            assert await lifetime_http.sessions_per_user(url, [user]) == [expected]
            assert result.logins > 2 * lifetime_http.POOL * lifetime_http.LIMIT
            assert result.rps > 0
            await lifetime_http.check_logins(url, prefix, limit, result.logins)
            if not limit:  # the check is not vacuous: an unlimited run's users fail it
                with pytest.raises(BenchmarkFailed, match="more than"):
                    await lifetime_http.check_logins(url, prefix, lifetime_http.LIMIT, 0)

    asyncio.run(_with_store(kind, tmp_path, body))
