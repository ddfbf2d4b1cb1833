"""HTTP read and write rps per core with hashed ids against the release before them, on
SQLite and PostgreSQL (issue 25's "hashed ids vs the current release ≥ 0.97x").

Hashed ids cannot be switched off, so the comparison is across versions: ``release`` is the
benchmark app of ``--baseline-ref`` (by default the commit just before ids were hashed at
rest), unpacked with ``git archive`` into a temporary tree and served from there, so it imports
that tree's ``session_service``; ``hashed`` is this tree's. Each variant has its own scratch
database, migrated by its own code's ``session-service migrate`` (the release's Alembic
revisions stop before the hashed-ids one). The apps are pinned as in :mod:`benchmarks.per_core`
(uvicorn under ``taskset -c 0``, wrk ``-t1 -c32`` under ``taskset -c 1``), the cases alternate
round after round, and each ratio is the median of the per-round ratios. Both PostgreSQL apps
keep up to 20 connections, the release's fixed pool.

After the rounds the databases are read back: the release's must hold plain ids and this
tree's only SHA-256 hashes, or the run compared the code with itself and reports nothing.

``python -m benchmarks.hashed_http [--baseline-ref REF] [--rounds 5] [--seconds 5]`` writes
``benchmarks/HASHED.md`` (``--output`` elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from ._common import (
    BenchmarkFailed,
    add_round_flags,
    add_server_flags,
    asyncpg_dsn,
    fmt_ratio,
    median,
    paired_ratio,
    scratch_database,
)
from .metrics_bench import _unpack
from .per_core import APP_CPU, LOAD_CPU, pinned_rounds
from .report import MIN_RATED_ROUNDS, _md_table, environment

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The parent of "Hashed ids at rest": the last commit that stored session ids as they are.
BASELINE_REF = "82723fcc6cafe2de0a120ee5d7f2f321b1421aaa"
GOAL = 0.97
#: ``benchmarks.apps`` variant per row, and the scratch database kind it runs on.
STORES = {"ours-sqlite": "sqlite", "ours-pg": "postgres"}
VARIANTS = ("release", "hashed")
PATHS = ("read", "write")
#: The release's PostgreSQL pool is fixed at 20 (no ``SESSION_DB_POOL_SIZE`` yet); this tree's
#: app is given as many (``BENCH_PG_POOL_SIZE``) so only the code differs.
RELEASE_PG_POOL = 20
_HEADERS = ["store", "path", "release rps", "hashed rps", "hashed / release", "goal"]

Rps = dict[tuple[str, str], list[float]]


def migrate_with(root: Path, url: str) -> None:
    """``url`` migrated by the ``session-service migrate`` of the code at ``root``."""
    done = subprocess.run(
        [sys.executable, "-m", "session_service", "--db-url", url, "migrate"],
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkFailed(f"migrate at {root} failed:\n{done.stdout}{done.stderr}")


async def stored_ids(url: str) -> list[str]:
    """Every ``id`` in the sessions table of ``url`` (SQLite or PostgreSQL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        db = sqlite3.connect(parsed.database)
        try:
            return [row[0] for row in db.execute("SELECT id FROM sessions")]
        finally:
            db.close()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return [row[0] for row in await conn.fetch("SELECT id FROM sessions")]
    finally:
        await conn.close()


def _is_hash(stored: str) -> bool:
    return len(stored) == 64 and all(c in "0123456789abcdef" for c in stored)


def check_ids(release: list[str], hashed: list[str]) -> None:
    """Raise :class:`BenchmarkFailed` unless the release stored plain ids and this tree only
    hashes: else the ``release`` app did not run the baseline's code."""
    if not release or any(_is_hash(i) for i in release):
        raise BenchmarkFailed(
            "the release app stored no plain session id: it did not run the baseline's code"
        )
    if not hashed or not all(_is_hash(i) for i in hashed):
        raise BenchmarkFailed("this tree's app stored something other than hashed ids")


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    """``os.environ[name]`` set for the servers started inside (and restored after)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def measure(pg_url: str, baseline: Path, rounds: int, seconds: float, workdir: Path) -> Rps:
    """rps per ``(label, path)``, labels ``{variant}-{store}``; checks the stored ids."""
    roots = {v: baseline if v == "release" else ROOT for v in VARIANTS}

    async def body() -> Rps:
        async with (
            scratch_database("sqlite", pg_url, workdir) as lite_release,
            scratch_database("sqlite", pg_url, workdir) as lite_hashed,
            scratch_database("postgres", pg_url, workdir) as pg_release,
            scratch_database("postgres", pg_url, workdir) as pg_hashed,
        ):
            urls = {
                ("release", "ours-sqlite"): lite_release,
                ("hashed", "ours-sqlite"): lite_hashed,
                ("release", "ours-pg"): pg_release,
                ("hashed", "ours-pg"): pg_hashed,
            }
            for (variant, _), url in urls.items():
                await asyncio.to_thread(migrate_with, roots[variant], url)
            specs = {f"{v}-{store}": (store, url) for (v, store), url in urls.items()}
            label_roots = {f"{v}-{store}": roots[v] for v, store in urls}
            with _env("BENCH_PG_POOL_SIZE", str(RELEASE_PG_POOL)):
                rps = await asyncio.to_thread(
                    pinned_rounds, specs, rounds, seconds, roots=label_roots
                )
            for store in STORES:
                check_ids(
                    await stored_ids(urls[("release", store)]),
                    await stored_ids(urls[("hashed", store)]),
                )
            return rps

    return asyncio.run(body())


def table(rps: Rps) -> list[list[str]]:
    """The report's rows: store, path, release rps, hashed rps, ratio, goal."""
    rows = []
    for store in STORES:
        for path in PATHS:
            old, new = rps[(f"release-{store}", path)], rps[(f"hashed-{store}", path)]
            ratio = fmt_ratio(paired_ratio(new, old))
            rows.append(
                [store, path, f"{median(old):,.0f}", f"{median(new):,.0f}", ratio, f"≥ {GOAL}x"]
            )
    return rows


def verdict(rps: Rps, rounds: int) -> str:
    if rounds < MIN_RATED_ROUNDS:
        return f"**Not rated**: fewer than {MIN_RATED_ROUNDS} rounds, so no row is called met."
    missed = [
        f"{store} {path}"
        for store in STORES
        for path in PATHS
        if (r := paired_ratio(rps[(f"hashed-{store}", path)], rps[(f"release-{store}", path)]))
        is None
        or r < GOAL
    ]
    if not missed:
        return f"Goal ≥ {GOAL}x: **met** on every row."
    return f"Goal ≥ {GOAL}x: **missed** on {', '.join(missed)}."


def markdown(
    rows: list[list[str]], verdict_line: str, command: str, env: list[tuple[str, str]]
) -> str:
    """HASHED.md: the results table first (``report.elsewhere`` quotes a page's first table),
    then the run's command and machine."""

    return "\n".join(
        [
            "# Hashed ids against the release before them, HTTP per core (issue 25)",
            "",
            "Generated by `python -m benchmarks.hashed_http`; do not edit by hand, rerun it. "
            f"`release` is the benchmark app of the baseline ref served from its own tree, "
            f"`hashed` this tree's; uvicorn under `taskset -c {APP_CPU}`, wrk `-t1 -c32` under "
            f"`taskset -c {LOAD_CPU}`, the cases alternating round after round; rps are "
            "medians over rounds, each ratio the median of the per-round ratios. Absolute rps "
            "depend on the machine and its load; the ratios are the result.",
            "",
            _md_table(_HEADERS, rows),
            "",
            verdict_line,
            "",
            f"Command: `{command}`",
            "",
            _md_table(["", ""], [[k, v] for k, v in env]),
            "",
        ]
    )


def _resolve(ref: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"--baseline-ref {ref!r} names no commit of this repository")
    return done.stdout.strip()


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hashed_http")
    p.add_argument("--baseline-ref", default=BASELINE_REF)
    add_round_flags(p)
    add_server_flags(p, redis=False)
    p.add_argument("--output", type=Path, default=HERE / "HASHED.md")
    args = p.parse_args(argv)
    command = "python -m benchmarks.hashed_http " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    baseline = _resolve(args.baseline_ref)
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="session-hashed-bench-") as tmp:
        tree = _unpack(baseline, Path(tmp) / "release", "benchmarks")
        rps = measure(args.pg_url, tree, args.rounds, args.seconds, Path(tmp))
    rows = table(rps)
    line = verdict(rps, args.rounds)
    extra = {
        "baseline ref": baseline,
        "rounds": f"{args.rounds} of {args.seconds:g} s per case",
        "load average (1, 5, 15 min)": f"{load_before} before, {_load()} after",
    }
    args.output.write_text(markdown(rows, line, command, environment(extra)), encoding="utf-8")
    print(_md_table(_HEADERS, rows))
    print(line)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
