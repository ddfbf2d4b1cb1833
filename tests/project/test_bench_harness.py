"""The benchmark harness runs end to end at tiny sizes and writes a RESULTS-like report.

Only the store micro-benchmarks run (no wrk, no scale section); nothing here asserts a timing.
PostgreSQL is included when ``SESSION_TEST_PG_URL`` names a server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks import _pgbouncer
from benchmarks.__main__ import _parser, default_output, main
from benchmarks._common import BenchmarkFailed, Section, Target
from benchmarks.http_bench import parse_wrk
from benchmarks.report import markdown


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
    assert "SQLite load / sqlite3 select (inline)" in report
    assert "## Floors" in report and "inline on the event loop" in report
    assert "## Analysis" not in report, "only this run's figures: ANALYSIS.md is linked"
    assert "(ANALYSIS.md)" in report
    assert "ours clear_sessions_for_user" in report
    if pg:
        assert "Store, PostgreSQL" in report
        assert "PG load / asyncpg select (pool, no reset)" in report
        assert "PG update / asyncpg update (pool, no reset)" in report
        assert "asyncpg select (held conn)" in report and "reset=<no-op>" in report
        if _pgbouncer.binary() is not None:
            assert "Through PgBouncer" in report and "PG load through PgBouncer / direct" in report
    assert not list(tmp_path.glob("bench_*.sqlite")), "scratch databases are removed"


_WRK_OK = """Running 1s test @ http://127.0.0.1:1/read
  1 threads and 32 connections
  Latency Distribution
     50%    1.10ms
     99%    2.50ms
  12000 requests in 1.00s, 1.50MB read
Requests/sec:  11990.00
"""


def test_wrk_rps_counts_2xx_answers_and_any_other_status_fails_the_run() -> None:
    ok = parse_wrk(_WRK_OK, "http://x/read")
    assert ok.requests == 12000 and ok.rps == pytest.approx(12000.0)
    assert ok.p50_ms == pytest.approx(1.1) and ok.p99_ms == pytest.approx(2.5)
    bad = _WRK_OK.replace("Requests/sec", "  Non-2xx or 3xx responses: 7\nRequests/sec")
    with pytest.raises(BenchmarkFailed, match=r"7 of 12000 answers .* were not 2xx"):
        parse_wrk(bad, "http://x/read")


def test_fewer_than_three_rounds_shows_figures_but_rates_no_target() -> None:
    section = Section(targets=[Target("t", 2.0, 1.5)])
    rated = markdown(section, "cmd", [], rated=True)
    assert "**missed**" in rated and "not rated" not in rated.lower()
    unrated = markdown(section, "cmd", [], rated=False)
    assert "2.00x" in unrated and "| not rated |" in unrated and "**missed**" not in unrated


def test_only_the_full_run_writes_the_tracked_results() -> None:
    assert default_output(_parser().parse_args([])).name == "RESULTS.md"
    for partial in (["--quick"], ["--rounds", "1"], ["--no-http"], ["--ops", "5"]):
        assert default_output(_parser().parse_args(partial)).name == "RESULTS-quick.md"
    # A full run is the default backends (spaces aside); fewer backends write RESULTS-quick.md.
    spaced = ["--backends", "sqlite, postgres, redis"]
    assert default_output(_parser().parse_args(spaced)).name == "RESULTS.md"
    for fewer in ("sqlite,postgres", "redis", "sqlite"):
        args = _parser().parse_args(["--backends", fewer])
        assert default_output(args).name == "RESULTS-quick.md"
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().split()
    assert "benchmarks/RESULTS-quick.md" in ignored


def test_backends_are_sqlite_postgres_and_redis_and_an_unknown_one_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _parser().parse_args([]).backends == "sqlite,postgres,redis"
    assert _parser().parse_args(["--quick", "--backends", " redis "]).backends == "redis"
    with pytest.raises(SystemExit):
        _parser().parse_args(["--backends", "sqlite,mysql"])
    assert "unknown backend(s) mysql" in capsys.readouterr().err
