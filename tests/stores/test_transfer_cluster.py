"""Moving live sessions to and from a Redis Cluster signs nobody out (issues 23 and 28,
API.md §15/§16): ``session-service copy`` between the cluster and SQLite, PostgreSQL or
single-node Redis keeps every session (a cookie from the source loads, with its data, handle,
device fields and deadlines, on the target), a second copy changes nothing, and a chain
SQLite → cluster → SQLite through export files keeps every session too."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..cli.test_cli import ok, run
from ..conftest import redis_test_url
from ..support.redis_cluster import cluster_keys_without_ttl_then_delete
from .test_transfer_between_stores import ENV, Site, devices, read_with, sign_in
from .test_transfer_between_stores import site as site
from .test_transfer_between_stores import urls as urls

OTHERS = ("sqlite", "postgres", "redis")
PAIRS = [(o, "redis_cluster") for o in OTHERS] + [("redis_cluster", o) for o in OTHERS]


@pytest.fixture
def cluster_urls(urls: dict[str, str], request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The other stores' fresh URLs, and a fresh key prefix on the test session's cluster."""
    cluster = request.getfixturevalue("redis_cluster")
    url = redis_test_url(cluster.url)
    yield {**urls, "redis_cluster": url}
    untimed = cluster_keys_without_ttl_then_delete(cluster, url.rpartition("=")[2])
    assert not untimed, f"keys left without a TTL: {untimed[:5]}"


@pytest.mark.parametrize(("source", "target"), PAIRS)
async def test_a_cookie_survives_a_copy_to_or_from_the_cluster(
    source: str,
    target: str,
    cluster_urls: dict[str, str],
    site: Any,
    tmp_path: Path,
) -> None:
    a: Site = await site(cluster_urls[source])
    b: Site = await site(cluster_urls[target])
    cookies = {user: await sign_in(a, user) for user in ("alice", "bob")}
    a.client.cookies.clear()
    anonymous = await a.client.post("/set", params={"cart": "nobody's cart"})
    assert anonymous.status_code == 200
    cookies["anonymous"] = httpx.Cookies(a.client.cookies)
    a.client.cookies.clear()
    seen = {user: await read_with(a, c) for user, c in cookies.items()}
    before = await a.service.get_session_store().dump_all_sessions()
    assert len(before) == 3

    copied = run("--db-url", cluster_urls[source], "copy", "--to", cluster_urls[target],
                 "--json", data_dir=tmp_path, env=ENV)  # fmt: skip
    assert json.loads(ok(copied))["session"] == {"written": 3, "unchanged": 0, "expired": 0}
    for user, c in cookies.items():
        assert await read_with(b, c) == seen[user]
    assert devices(await b.service.get_session_store().dump_all_sessions()) == devices(before)
    [listed] = await b.service.list_user_sessions("alice")
    assert listed.device == "Firefox on Linux" and listed.ip == "198.51.100.4"
    again = run("--db-url", cluster_urls[source], "copy", "--to", cluster_urls[target],
                "--json", data_dir=tmp_path, env=ENV)  # fmt: skip
    assert json.loads(ok(again))["session"] == {"written": 0, "unchanged": 3, "expired": 0}
    # what the per-user scripts on the target find: the imported sessions are in its indexes
    assert await b.service.get_session_store().count_sessions_for_user("bob") == 1
    assert await b.service.get_session_store().clear_sessions_for_user("bob") == 1


async def test_a_chain_through_the_cluster_keeps_every_session(
    cluster_urls: dict[str, str],
    site: Any,
    tmp_path: Path,
) -> None:
    first: Site = await site(cluster_urls["sqlite"])
    cookies = [await sign_in(first, f"user{i}") for i in range(5)]
    seen = [await read_with(first, c) for c in cookies]
    original = devices(await first.service.get_session_store().dump_all_sessions())
    for hop, (source, target) in enumerate(
        itertools.pairwise(["sqlite", "redis_cluster", "sqlite2"])
    ):
        here: Site = await site(cluster_urls[target])
        dump = tmp_path / f"hop{hop}.jsonl"
        exported = run("--db-url", cluster_urls[source], "export", "-o", str(dump), "--json",
                       "--batch-size", "2", data_dir=tmp_path, env=ENV)  # fmt: skip
        assert exported.returncode == 0, exported.stderr
        assert json.loads(exported.stdout)["sessions"] == 5
        for expected in ({"written": 5, "unchanged": 0}, {"written": 0, "unchanged": 5}):
            done = run("--db-url", cluster_urls[target], "import", str(dump), "--json",
                       data_dir=tmp_path, env=ENV)  # fmt: skip
            assert json.loads(ok(done))["session"] == {**expected, "expired": 0}
        assert devices(await here.service.get_session_store().dump_all_sessions()) == original
        for c, data in zip(cookies, seen, strict=True):
            assert await read_with(here, c) == data
