"""Soak test: load across processes, and database faults under load (``python -m benchmarks.soak``).

Phases (``--phases``, all by default):

``load-pg`` / ``load-sqlite``
    Two uvicorn processes of :mod:`benchmarks._soak_app` on one PostgreSQL database (a fresh
    database on ``--pg-url``) or one SQLite file. ``--users`` simulated users, started evenly
    over ``--duration`` seconds, each log in, write ``--writes`` times, read and log out, every
    request going round-robin to the two processes. Figures: requests, errors, lost writes
    (acknowledged writes missing from the stored counter: data loss), writes applied but
    unacknowledged (the client lost the answer, e.g. a timeout: not a loss),
    ``database is locked`` in the server logs, p50/p99.
``fault-pg``
    Two app processes on a throwaway cluster (port 54329 if free) that is stopped (``immediate``)
    mid-load and started again: requests begun during the outage get only 503s, no 500s; the
    CLI fails with one line; every session stored before the outage loads after; the apps
    recover without restart; the database password shows up in no output.
``fault-sqlite``
    Two app processes on a SQLite file, run without root's permission override, while the file
    and its directory are made read-only, then while the directory vanishes (renamed away):
    no 500s, the CLI fails with one line, and afterwards ``PRAGMA integrity_check`` is ok and
    every stored session loads.

Every loop is bounded in count and in time; everything listens on 127.0.0.1. Exit status 1
if any check fails. ``--quick`` is a small run (100 users over 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from session_service import SessionStoreBackend

from ._common import scratch_database
from ._soak_faults import run_pg_fault, run_sqlite_fault
from ._soak_load import Stats, run_users
from ._soak_procs import AppProcess, start_all

PHASES = ("load-pg", "load-sqlite", "fault-pg", "fault-sqlite")
LOCKED = "database is locked"


@dataclass
class Report:
    """Checks and figures of every phase; printed at the end, optionally saved as JSON."""

    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append((name, ok, detail))
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}{': ' + detail if detail else ''}", flush=True)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)


async def _migrate(url: str) -> None:
    backend = SessionStoreBackend.from_url(url)
    try:
        await backend.migrate()
    finally:
        await backend.close()


def load_figures(stats: Stats, wall: float, logs: str) -> dict[str, Any]:
    return {
        "users": stats.users_done + stats.users_failed,
        "users_completed": stats.users_done,
        "users_failed": stats.users_failed,
        "requests": stats.requests,
        "wall_seconds": round(wall, 1),
        "requests_per_second": round(stats.requests / wall, 1) if wall else 0.0,
        "errors": stats.error_count,
        "statuses": dict(stats.statuses),
        "transport_errors": dict(stats.errors),
        "lost_writes": stats.lost_writes,
        "applied_unacknowledged_writes": stats.applied_unacknowledged_writes,
        "unexplained_writes": stats.unexplained_writes,
        "revoked_but_alive": stats.revoked_but_alive,
        "database_is_locked": logs.count(LOCKED),
        "tracebacks_in_server_logs": logs.count("Traceback"),
        "p50_ms": round(stats.percentile(50) * 1000, 1),
        "p99_ms": round(stats.percentile(99) * 1000, 1),
        "max_ms": round(max(stats.latencies, default=0.0) * 1000, 1),
    }


async def run_load(
    name: str, url: str, workdir: Path, args: argparse.Namespace, report: Report
) -> None:
    print(
        f"\n== {name}: {args.users} users x {args.writes} writes over {args.duration}s", flush=True
    )
    await _migrate(url)
    apps = [AppProcess(f"{name}-{i}", url, workdir) for i in (1, 2)]
    try:
        servers = await start_all(apps)
        stats, wall = await run_users(servers, args.users, args.writes, args.duration, "u")
    finally:
        for app in apps:
            app.stop()
    figures = load_figures(stats, wall, "".join(app.log_text() for app in apps))
    report.figures[name] = figures
    print("  " + json.dumps(figures), flush=True)
    expected = args.users * (args.writes + 4)  # login, writes, read, logout, read-after
    report.check(f"{name}: every user completed", figures["users_completed"] == args.users)
    report.check(f"{name}: requests", figures["requests"] == expected, f"{figures['requests']}")
    report.check(f"{name}: 0 errors", figures["errors"] == 0, str(figures["statuses"]))
    # Only an acknowledged write missing is a lost one; a write applied whose answer the
    # client never got (a timeout) is counted apart and is no failure.
    report.check(f"{name}: 0 lost writes", figures["lost_writes"] == 0)
    report.check(f"{name}: 0 writes from nowhere", figures["unexplained_writes"] == 0)
    report.check(f"{name}: logged-out sessions stay out", figures["revoked_but_alive"] == 0)
    report.check(f"{name}: 0 '{LOCKED}'", figures["database_is_locked"] == 0)
    report.check(f"{name}: no tracebacks", figures["tracebacks_in_server_logs"] == 0)


async def load_pg(workdir: Path, args: argparse.Namespace, report: Report) -> None:
    async with scratch_database("postgres", args.pg_url, workdir) as url:
        await run_load("load-pg", url, workdir, args, report)


async def load_sqlite(workdir: Path, args: argparse.Namespace, report: Report) -> None:
    url = f"sqlite+aiosqlite:///{workdir / 'load.sqlite'}"
    await run_load("load-sqlite", url, workdir, args, report)


async def fault_pg(workdir: Path, args: argparse.Namespace, report: Report) -> None:
    print(f"\n== fault-pg: {args.fault_users} users, outage {args.outage}s", flush=True)
    report.figures["fault-pg"] = await run_pg_fault(workdir, args, report.check)


async def fault_sqlite(workdir: Path, args: argparse.Namespace, report: Report) -> None:
    print(f"\n== fault-sqlite: {args.fault_users} users, {args.outage}s per fault", flush=True)
    report.figures["fault-sqlite"] = await run_sqlite_fault(workdir, args, report.check)


RUNNERS: dict[str, Callable[[Path, argparse.Namespace, Report], Awaitable[None]]] = {
    "load-pg": load_pg,
    "load-sqlite": load_sqlite,
    "fault-pg": fault_pg,
    "fault-sqlite": fault_sqlite,
}


def _phases(value: str) -> list[str]:
    chosen = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PHASES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown phase(s) {unknown}; choose from {PHASES}")
    return chosen


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--users", type=int, default=1000, help="simulated users (default 1000)")
    parser.add_argument("--duration", type=float, default=60.0, help="ramp-up seconds (60)")
    parser.add_argument("--writes", type=int, default=20, help="writes per user (20)")
    parser.add_argument("--fault-users", type=int, default=100, help="users under faults (100)")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds per fault (5)")
    parser.add_argument("--phases", type=_phases, default=list(PHASES), help=",".join(PHASES))
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="server for load-pg (a fresh database is created on it and dropped)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures and checks here")
    parser.add_argument(
        "--workdir", type=Path, help="keep databases and server logs here (default: a temp dir)"
    )
    parser.add_argument("--quick", action="store_true", help="100 users over 10 s, 2 s faults")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.duration, args.fault_users, args.outage = 100, 10.0, 30, 2.0
    return args


async def amain(args: argparse.Namespace) -> Report:
    report = Report()
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        else:
            workdir = args.workdir
            workdir.mkdir(parents=True, exist_ok=False)
        os.chmod(workdir, 0o755)  # the confined app processes must traverse it
        for phase in args.phases:
            started = time.monotonic()
            await RUNNERS[phase](workdir, args, report)
            print(f"  ({phase} took {time.monotonic() - started:.0f}s)", flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(amain(args))
    print("\n== summary")
    for name, ok, detail in report.checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}{': ' + detail if detail else ''}")
    if args.json is not None:
        document = {
            "args": {k: v for k, v in vars(args).items() if k not in ("json", "pg_url", "workdir")},
            "figures": report.figures,
            "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in report.checks],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
