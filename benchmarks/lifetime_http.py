"""Issue 21's measured rows over HTTP, per core: the absolute TTL on reads, the cap on logins.

The HTTP companion of :mod:`benchmarks.login_bench` (a store's ``rotate``, in-process):

* reads: ``ours-{db}`` (``SESSION_ABSOLUTE_TTL_SECONDS`` unset) against ``ours-{db}-absolute``
  (set, twice the idle TTL) on SQLite and PostgreSQL, through
  :func:`benchmarks.per_core.pinned_rounds` (uvicorn under ``taskset -c 0``, wrk ``-t1 -c32``
  under ``taskset -c 1``, the cases alternating round after round);
* logins: ``ours-{db}`` with ``SESSION_MAX_PER_USER=5`` against unlimited (``BENCH_MAX_PER_USER``)
  on SQLite, PostgreSQL and Redis, the same pinning and alternation, wrk driven by
  ``benchmarks/login.lua``: each login is a browser's, ``GET /anon`` (the login page's anonymous
  session) then ``POST /login`` with its cookie (``cycle_id()``, ``user_id`` set), the users
  round-robin from a pool of :data:`POOL`, so nearly every limited login signs the least
  recently used session of its user out. A row is logins answered per second (each one login
  page and one login). After the run the store is asked (:func:`check_logins`): the limited
  users hold exactly the cap, the unlimited ones every login they got, or the run fails.

Each ratio is the median of the per-round ratios ``variant / baseline``.
``python -m benchmarks.lifetime_http`` prints the tables and the issue's targets.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._common import (
    BenchmarkFailed,
    Section,
    Table,
    Target,
    add_round_flags,
    add_server_flags,
    alternating,
    fmt,
    median,
    paired_ratio,
    scratch_database,
)
from .http_bench import Server, ensure_wrk, parse_wrk, pinned, start_server, stop_server
from .per_core import APP_CPU, LOAD_CPU, _migrate, _spread, pinned_rounds
from .redis_bench import delete_prefix, new_prefix, with_prefix

#: ``SESSION_MAX_PER_USER`` of the limited login apps, and the users the logins share.
LIMIT, POOL = 5, 10
READ_GOAL, LOGIN_GOAL = 0.97, 0.9
LOGIN_SCRIPT = Path(__file__).with_name("login.lua")
_VARIANT = {"sqlite": "ours-sqlite", "pg": "ours-pg", "redis": "ours-redis"}


def read_specs(urls: dict[str, str]) -> dict[str, tuple[str, str]]:
    """``{db}-unset`` / ``{db}-absolute`` → (app variant, database URL), for ``pinned_rounds``."""
    return {
        f"{db}-{label}": (f"ours-{db}{suffix}", url)
        for db, url in urls.items()
        for label, suffix in (("unset", ""), ("absolute", "-absolute"))
    }


def start_login_server(url: str, limit: int, cpu: int | None = None) -> Server:
    """The ``ours-*`` app of ``url``'s store kind with ``SESSION_MAX_PER_USER=limit``."""
    db = "redis" if url.startswith("redis") else "sqlite" if url.startswith("sqlite") else "pg"
    return start_server(_VARIANT[db], url, cpu=cpu, extra_env={"BENCH_MAX_PER_USER": str(limit)})


@dataclass(frozen=True)
class LoginRun:
    logins: int  # login answers (2xx) counted by the script
    seconds: float

    @property
    def rps(self) -> float:
        return self.logins / self.seconds if self.seconds else 0.0


def run_login_wrk(
    server: Server, prefix: str, seconds: float, connections: int = 32, cpu: int | None = None
) -> LoginRun:
    """One wrk run of ``login.lua`` against ``server``, the users ``{prefix}0`` … ``{POOL-1}``;
    any non-2xx answer (a login without its anonymous session: 409) fails the run."""
    cmd = [*pinned(cpu), ensure_wrk(), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    cmd += ["-s", str(LOGIN_SCRIPT), f"{server.base}/", "--", prefix, str(POOL)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise BenchmarkFailed(f"wrk exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    out = done.stdout
    result = parse_wrk(out, f"{server.base}/login")
    found = re.search(r"^logins: (\d+)$", out, re.M)
    if found is None:
        raise BenchmarkFailed(f"login.lua printed no login count:\n{out}")
    return LoginRun(int(found.group(1)), result.requests / result.rps if result.rps else 0.0)


async def sessions_per_user(url: str, users: list[str]) -> list[int]:
    """The live sessions of each of ``users`` in the store at ``url``."""
    from session_service import SessionStoreBackend

    backend = await SessionStoreBackend.connect(url)
    try:
        return [await backend.count_sessions_for_user(user) for user in users]
    finally:
        await backend.close()


async def check_logins(url: str, prefix: str, limit: int, logins: int) -> None:
    """Raise :class:`BenchmarkFailed` unless the ``logins`` answered for the pool ``prefix``
    left what they should: with a cap, no user above it and (once every user logged in that
    often) each at it; unlimited, a session per login."""
    counts = await sessions_per_user(url, [f"{prefix}{i}" for i in range(POOL)])
    if limit:
        if max(counts) > limit:
            raise BenchmarkFailed(
                f"users {prefix}*: {counts} sessions, more than SESSION_MAX_PER_USER={limit}"
            )
        if logins >= 2 * POOL * limit and min(counts) < limit:
            raise BenchmarkFailed(f"users {prefix}*: {counts} sessions after {logins} logins")
    elif sum(counts) < logins:
        raise BenchmarkFailed(f"users {prefix}*: {sum(counts)} sessions after {logins} logins")


def login_rounds(
    urls: dict[str, str], rounds: int, seconds: float, connections: int = 32
) -> dict[str, list[float]]:
    """Logins per second of ``{db}-max5`` and ``{db}-unlimited`` for each ``db: url``, the
    cases alternating round after round; the store checked after the run."""
    labels = {f"{db}-{'max5' if limit else 'unlimited'}": (url, limit) for db, url in urls.items()
              for limit in (LIMIT, 0)}  # fmt: skip
    running: dict[str, Server] = {}
    logins = dict.fromkeys(labels, 0)
    try:
        for label, (url, limit) in labels.items():
            running[label] = start_login_server(url, limit, cpu=APP_CPU)
        for label, server in running.items():  # warm-up: imports, pools, statements, scripts
            logins[label] += run_login_wrk(server, f"{label}-", 1, connections, LOAD_CPU).logins

        def one(label: str) -> float:
            run = run_login_wrk(running[label], f"{label}-", seconds, connections, LOAD_CPU)
            logins[label] += run.logins
            return run.rps

        rps = alternating(list(running), rounds, one)
    finally:
        for server in running.values():
            stop_server(server)
    for label, (url, limit) in labels.items():
        asyncio.run(check_logins(url, f"{label}-", limit, logins[label]))
    return rps


def run(
    read_urls: dict[str, str], login_urls: dict[str, str], rounds: int, seconds: float
) -> Section:
    """Both tables and their targets (``sqlite``/``pg``/``redis`` → store URL)."""
    how = (f"median of {rounds} rounds of {seconds:g} s (uvicorn pinned to core {APP_CPU}, "
           f"wrk -t1 -c32 to core {LOAD_CPU})")  # fmt: skip
    section = Section()
    _read_rows(section, how, read_urls, pinned_rounds(read_specs(read_urls), rounds, seconds))
    _login_rows(section, how, login_urls, login_rounds(login_urls, rounds, seconds))
    return section


def _read_rows(
    section: Section, how: str, urls: dict[str, str], reads: dict[tuple[str, str], list[float]]
) -> None:
    table = Table(
        f"HTTP per core, SESSION_ABSOLUTE_TTL_SECONDS unset / set: {how}",
        ["store", "absolute TTL", "read rps", "write rps", "read / unset", "write / unset"],
    )
    section.tables.append(table)
    for db in urls:
        base_r, base_w = reads[(f"{db}-unset", "read")], reads[(f"{db}-unset", "write")]
        r, w = reads[(f"{db}-absolute", "read")], reads[(f"{db}-absolute", "write")]
        table.rows.append([db, "off", fmt(median(base_r), 0), fmt(median(base_w), 0), "-", "-"])
        table.rows.append(
            [db, "2x idle TTL", fmt(median(r), 0), fmt(median(w), 0),
             f"{paired_ratio(r, base_r):.3f}x", f"{paired_ratio(w, base_w):.3f}x"]
        )  # fmt: skip
        section.targets.append(
            Target(f"HTTP read rps per core, {db}: absolute TTL set / unset",
                   paired_ratio(r, base_r), READ_GOAL, True, detail=_spread(r, base_r))
        )  # fmt: skip
    table.note = "Each variant its own uvicorn process; the database servers are not pinned."


def _login_rows(
    section: Section, how: str, urls: dict[str, str], logins: dict[str, list[float]]
) -> None:
    table = Table(
        f"HTTP logins per core, SESSION_MAX_PER_USER={LIMIT} / unlimited: {how}",
        ["store", "max 5 logins/s", "unlimited logins/s", "max 5 / unlimited"],
    )
    section.tables.append(table)
    for db in urls:
        capped, free = logins[f"{db}-max5"], logins[f"{db}-unlimited"]
        table.rows.append(
            [db, fmt(median(capped), 0), fmt(median(free), 0), f"{paired_ratio(capped, free):.3f}x"]
        )
        section.targets.append(
            Target(f"HTTP login rps per core, {db}: SESSION_MAX_PER_USER={LIMIT} / unlimited",
                   paired_ratio(capped, free), LOGIN_GOAL, True, detail=_spread(capped, free))
        )  # fmt: skip
    table.note = (
        f"A login: GET /anon (the anonymous session) then POST /login with its cookie "
        f"(cycle_id, user_id from a pool of {POOL}), driven by benchmarks/login.lua; a row counts "
        "logins answered. After the run every limited user held exactly the cap and every "
        "unlimited login left its session (checked in the store, the apps stopped)."
    )


async def _main(args: argparse.Namespace) -> Section:
    with tempfile.TemporaryDirectory(prefix="session-lifetime-http-") as tmp:
        work = Path(tmp)
        async with scratch_database("sqlite", args.pg_url, work) as lite:
            await _migrate(lite)
            if args.no_pg:
                return await _with_redis(args, {"sqlite": lite})
            async with scratch_database("postgres", args.pg_url, work) as pg:
                await _migrate(pg)
                return await _with_redis(args, {"sqlite": lite, "pg": pg})


async def _with_redis(args: argparse.Namespace, db_urls: dict[str, str]) -> Section:
    """:func:`run`, the logins on Redis too (under a key prefix of their own, deleted after)."""
    if args.no_redis:
        return await asyncio.to_thread(run, db_urls, db_urls, args.rounds, args.seconds)
    prefix = new_prefix("lifetime")
    try:
        login_urls = {**db_urls, "redis": with_prefix(args.redis_url, prefix)}
        return await asyncio.to_thread(run, db_urls, login_urls, args.rounds, args.seconds)
    finally:
        await delete_prefix(args.redis_url, prefix)


def main(argv: list[str] | None = None) -> int:
    from .report import print_report

    p = argparse.ArgumentParser(prog="python -m benchmarks.lifetime_http")
    add_round_flags(p)
    add_server_flags(p, skips=True)
    args = p.parse_args(argv)
    print_report(asyncio.run(_main(args)), args.rounds >= 3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
