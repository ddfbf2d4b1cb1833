"""``python -m benchmarks.hashed_http``'s harness: the ``release`` app really runs the baseline's
code on a database its own migrations made, and HASHED.md leads with the table the results page
quotes. Real uvicorn servers and databases (PostgreSQL when ``SESSION_TEST_PG_URL`` names a
server); no wrk, nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from benchmarks import hashed_http
from benchmarks._common import BenchmarkFailed, Kind, asyncpg_dsn, scratch_database
from benchmarks.http_bench import ROOT, start_server, stop_server
from benchmarks.metrics_bench import _unpack
from benchmarks.report import _first_table


async def _revision(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        db = sqlite3.connect(parsed.database)
        try:
            return str(db.execute("SELECT version_num FROM alembic_version").fetchone()[0])
        finally:
            db.close()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return str(await conn.fetchval("SELECT version_num FROM alembic_version"))
    finally:
        await conn.close()


def _kinds() -> list[tuple[Kind, str]]:
    pg = os.environ.get("SESSION_TEST_PG_URL", "").strip()
    kinds: list[tuple[Kind, str]] = [("sqlite", "ours-sqlite")]
    return [*kinds, ("postgres", "ours-pg")] if pg else kinds


@pytest.mark.parametrize(("kind", "variant"), _kinds())
def test_the_release_app_runs_the_baseline_code_on_its_own_migrations(
    tmp_path: Path, kind: Kind, variant: str
) -> None:
    pg = os.environ.get("SESSION_TEST_PG_URL", "").strip()
    tree = _unpack(hashed_http.BASELINE_REF, tmp_path / "release", "benchmarks")

    async def body() -> None:
        async with (
            scratch_database(kind, pg, tmp_path) as old_url,
            scratch_database(kind, pg, tmp_path) as new_url,
        ):
            hashed_http.migrate_with(tree, old_url)
            hashed_http.migrate_with(ROOT, new_url)
            old_rev, new_rev = await _revision(old_url), await _revision(new_url)
            assert old_rev.startswith("0004"), "the baseline's last revision"
            assert new_rev != old_rev
            for root, url in ((tree, old_url), (ROOT, new_url)):
                server = await asyncio.to_thread(start_server, variant, url, root=root)
                await asyncio.to_thread(stop_server, server)
            old_ids, new_ids = (
                await hashed_http.stored_ids(old_url),
                await hashed_http.stored_ids(new_url),
            )
            hashed_http.check_ids(old_ids, new_ids)
            with pytest.raises(BenchmarkFailed, match="did not run the baseline"):
                hashed_http.check_ids(new_ids, new_ids)

    asyncio.run(body())


def _rps(hashed_write: float) -> hashed_http.Rps:
    rps: hashed_http.Rps = {}
    for store in hashed_http.STORES:
        for path in hashed_http.PATHS:
            rps[(f"release-{store}", path)] = [1000.0, 1000.0, 1000.0]
            new = hashed_write if (store, path) == ("ours-pg", "write") else 990.0
            rps[(f"hashed-{store}", path)] = [new, new, new]
    return rps


def test_hashed_md_leads_with_the_table_and_names_a_missed_row() -> None:
    rps = _rps(900.0)
    rows = hashed_http.table(rps)
    assert [r[:2] for r in rows] == [
        ["ours-sqlite", "read"],
        ["ours-sqlite", "write"],
        ["ours-pg", "read"],
        ["ours-pg", "write"],
    ]
    assert rows[0][2:] == ["1,000", "990", "0.99x", "≥ 0.97x"] and rows[3][4] == "0.90x"
    verdict = hashed_http.verdict(rps, 5)
    assert "**missed** on ours-pg write." in verdict
    assert "met" in hashed_http.verdict(_rps(990.0), 5)
    assert "Not rated" in hashed_http.verdict(rps, 1)
    page = hashed_http.markdown(rows, verdict, "python -m benchmarks.hashed_http", [("k", "v")])
    quoted = _first_table(page)
    assert quoted[0].startswith("| store | path | release rps | hashed rps |")
    assert len(quoted) == 2 + len(rows), "only the results: the run's details come after"
    assert "Command: `python -m benchmarks.hashed_http`" in page and "| k | v |" in page
