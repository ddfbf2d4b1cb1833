"""The benchmark harness runs end to end at tiny sizes and writes a RESULTS-like report.

Only the store micro-benchmarks run (no wrk, no scale section); nothing here asserts a timing.
PostgreSQL is included when ``SESSION_TEST_PG_URL`` names a server.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks import _pgbouncer
from benchmarks.__main__ import main


def test_harness_runs_store_benchmarks_and_writes_a_report(tmp_path: Path) -> None:
    pg = os.environ.get("SESSION_TEST_PG_URL", "").strip()
    out = tmp_path / "RESULTS.md"
    args = ["--no-http", "--no-scale", "--rounds", "3", "--ops", "20", "--concurrent-ops", "64"]
    args += ["--preload", "100", "--output", str(out), "--workdir", str(tmp_path)]
    args += ["--backends", "sqlite,postgres" if pg else "sqlite"]
    if pg:
        args += ["--pg-url", pg]
    assert main(args) == 0
    report = out.read_text()
    assert report.startswith("# Benchmark results")
    assert "Command: `python -m benchmarks --no-http" in report
    for heading in ("## Targets", "machine", "sqlalchemy", "Store, SQLite"):
        assert heading in report
    assert "SQLite load / (thread hop + sqlite3 select)" in report
    assert "ours clear_sessions_for_user" in report
    if pg:
        assert "Store, PostgreSQL" in report
        assert "PG load / raw asyncpg select" in report
        assert "asyncpg select (held conn)" in report
        if _pgbouncer.binary() is not None:
            assert "Through PgBouncer" in report and "PG load through PgBouncer / direct" in report
    assert not list(tmp_path.glob("bench_*.sqlite")), "scratch databases are removed"
