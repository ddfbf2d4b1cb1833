"""The harness's Redis and memory pieces at tiny sizes: the HTTP variants, the load section,
the sized scale rows, and that every Redis key a benchmark writes is deleted afterwards.

Nothing here asserts a timing; Redis comes from ``SESSION_TEST_REDIS_URL`` (see conftest).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from starlette.applications import Starlette
from starlette.testclient import TestClient

from benchmarks.__main__ import main
from benchmarks.apps import build
from benchmarks.redis_bench import (
    bulk_create,
    delete_prefix,
    new_prefix,
    redis_scratch,
    run_redis_load_bench,
    with_prefix,
)
from benchmarks.store_bench import StoreConfig
from session_service.stores.memory import forget as forget_memory


def _keys(server_url: str, prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(server_url)
    try:
        return list(client.scan_iter(match=prefix + "*", count=1000))
    finally:
        client.close()


def _count_twice(app: Starlette) -> str:
    """Two writes then a read through ``app``: the read sees the counter both writes moved."""
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/write").text == "ok"
        assert client.get("/write").text == "ok"
        return client.get("/read").text


def test_redis_http_variants_keep_sessions_under_their_own_prefixes(
    redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = new_prefix("test_http"), new_prefix("test_star")
    monkeypatch.setenv("BENCH_REDIS_PREFIX", theirs)
    try:
        assert _count_twice(build("ours-redis", with_prefix(redis_server_url, ours))) == "2"
        assert _count_twice(build("starsessions-redis", redis_url=redis_server_url)) == "2"
        assert _keys(redis_server_url, ours) and _keys(redis_server_url, theirs)
    finally:
        for prefix in (ours, theirs):
            asyncio.run(delete_prefix(redis_server_url, prefix))
    assert not _keys(redis_server_url, ours) and not _keys(redis_server_url, theirs)


def test_memory_http_variants_count_a_session() -> None:
    try:
        assert _count_twice(build("ours-memory", "memory://")) == "2"
    finally:
        forget_memory("memory://")
    assert _count_twice(build("starsessions-memory")) == "2"


async def test_a_scratch_prefix_and_its_bulk_load_are_deleted_afterwards(
    redis_server_url: str,
) -> None:
    async with redis_scratch(redis_server_url, "test") as store:
        ids = await bulk_create(store, 30, users=3)
        assert len(set(ids)) == 30
        assert len(await store.list_sessions_for_user("user-1")) == 10
        prefix = store.key_prefix
    assert not _keys(redis_server_url, prefix)


async def test_redis_load_section_rates_load_against_a_raw_get(redis_server_url: str) -> None:
    cfg = StoreConfig(ops=10, concurrent_ops=32, tasks=4, rounds=2, preload=20)
    section = await run_redis_load_bench(redis_server_url, cfg)
    [table] = section.tables
    assert table.title.startswith("Store, Redis: 20 sessions stored")
    assert [row[0] for row in table.rows] == [
        "ours load",
        "raw GET (same pool)",
        "redis-py client.get",
    ]
    [target] = section.targets
    assert target.name == "Redis load / raw GET (same redis-py pool)"
    assert target.ratio is not None and target.limit == 1.2
    assert section.floors and "raw `GET`" in section.floors[0]


def test_harness_runs_the_redis_rows_at_tiny_sizes(redis_server_url: str, tmp_path: Path) -> None:
    out = tmp_path / "RESULTS-quick.md"
    args = ["--quick", "--no-http", "--no-limits", "--scale", "--backends", "redis"]
    args += ["--redis-url", redis_server_url, "--rounds", "1", "--ops", "10"]
    args += ["--concurrent-ops", "32", "--preload", "20", "--scale-small", "20"]
    args += ["--scale-large", "60", "--output", str(out), "--workdir", str(tmp_path)]
    assert main(args) == 0
    report = out.read_text()
    assert "## Store, Redis: 20 sessions stored" in report
    assert "| Redis load / raw GET (same redis-py pool) | ≤1.2x |" in report
    assert "## Scale, Redis: µs per call at 20 and 60 stored sessions" in report
    assert "| clear user (100 sessions) |" in report
    assert "Redis clear-by-user (100 sessions) at 60 / at 20" in report
    assert "created 60 sessions through the store" in report
    assert "Store, SQLite" not in report and "Scale, SQLite" not in report


def test_redis_that_does_not_answer_gives_a_note_and_no_row(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS-quick.md"
    args = ["--quick", "--no-http", "--no-limits", "--no-scale", "--backends", "redis"]
    args += ["--redis-url", "redis://127.0.0.1:1/15", "--rounds", "1", "--output", str(out)]
    assert main(args) == 0
    report = out.read_text()
    assert "Redis at redis://127.0.0.1:1/15 did not answer" in report
    assert "Store, Redis" not in report and "Redis load / raw GET" not in report
