"""``python -m benchmarks.login_instructions [STORE:SCENARIO ...]``: CPU instructions and
round trips per login, ``SESSION_MAX_PER_USER=5`` against unlimited.

:mod:`.login_bench`'s logins (a ``rotate`` of an anonymous session to one with ``user_id``;
"within": 5 logins per user, "past": 10, so the sixth and later sign one session out), counted
the way :mod:`.instructions` counts requests: one process under ``valgrind --tool=callgrind``,
the counters zeroed by ``getppid()`` and dumped by ``getegid()`` around each measured loop of
``-n`` logins. Wall-clock time on a shared machine moves with the load; these do not. A
database server's own work is in another process and not counted (SQLite's is), so for
PostgreSQL and Redis the round trips per login (counted by the client, outside valgrind's
view of the server) are printed beside the instructions.

``--inner`` is the part that runs under valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._common import add_server_flags, scratch_database
from .login_bench import LIMIT, SCENARIOS, _record
from .redis_bench import delete_prefix, new_prefix, with_prefix

DEFAULT_CASES = [f"{s}:{n}" for s in ("sqlite", "postgres", "redis") for n in SCENARIOS]


class _Trips:
    """Counts the commands a Redis store's pool sends, or the statements a PostgreSQL hot
    path runs (each one round trip), by wrapping the one method every call goes through."""

    def __init__(self) -> None:
        self.n = 0

    def wrap(self, backend: Any) -> None:
        store = backend.store
        target: Any
        name: str
        if store.kind == "redis":
            from session_service.stores.redis import pool
            from session_service.stores.redis import store as redis_store

            original = pool.run_command

            async def counted(*args: Any) -> Any:
                self.n += 1
                return await original(*args)

            for module in (pool, redis_store):  # run_script's, and the loads'
                setattr(module, "run_command", counted)  # noqa: B010
            return
        if store.kind != "postgres":
            return
        target, name = store.hot, "_on_conn"
        original_conn = getattr(target, name)

        async def counted_conn(work: Any) -> Any:
            self.n += 1
            return await original_conn(work)

        setattr(target, name, counted_conn)


async def _logins(backend: Any, limit: int, n: int, tag: str, per_user: int, trips: _Trips) -> None:
    backend.store.max_per_user = limit
    anonymous = [await backend.create(_record({"cart": i})) for i in range(n)]
    users = max(1, n // per_user)
    trips.n = 0
    os.getppid()  # callgrind: zero the counters
    for i, anon in enumerate(anonymous):
        await backend.rotate(anon.id, _record({"user_id": f"{tag}-{i % users}", "cart": i}))
    os.getegid()  # callgrind: dump them


async def _inner(cases: list[str], n: int, urls: dict[str, str], trips_out: Path) -> None:
    from session_service import SessionStoreBackend

    lines = []
    for case in cases:
        store, scenario = case.split(":")
        backend = await SessionStoreBackend.connect(urls[store])
        trips = _Trips()
        try:
            await backend.migrate()
            trips.wrap(backend)
            for limit in (0, LIMIT):  # connections, statements and scripts warm
                await _logins_untimed(backend, limit, 50, f"warm-{limit}", SCENARIOS[scenario])
            for limit in (0, LIMIT):
                await _logins(backend, limit, n, f"{case}-{limit}", SCENARIOS[scenario], trips)
                lines.append(f"{case}:{limit} {trips.n}")
        finally:
            await backend.close()
    trips_out.write_text("\n".join(lines))  # noqa: ASYNC240  (after the measured loops)


async def _logins_untimed(backend: Any, limit: int, n: int, tag: str, per_user: int) -> None:
    backend.store.max_per_user = limit
    users = max(1, n // per_user)
    for i in range(n):
        anon = await backend.create(_record({"cart": i}))
        await backend.rotate(anon.id, _record({"user_id": f"{tag}-{i % users}", "cart": i}))


def count(
    cases: list[str], n: int, urls: dict[str, str], work: Path
) -> list[tuple[str, int, float]]:
    """(case:limit, instructions per login, round trips per login), unlimited then limited
    for each ``store:scenario`` case, in one valgrind process."""
    out, trips = work / "cg.out", work / "trips.txt"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           "--zero-before=getppid", "--dump-before=getegid", sys.executable, "-m",
           "benchmarks.login_instructions", "--inner", "-n", str(n), "--trips", str(trips),
           *(f"--url={k}={v}" for k, v in urls.items()), *cases]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"valgrind failed:\n{done.stderr[-3000:]}")
    rows = []
    for i, line in enumerate(trips.read_text().splitlines(), start=1):
        name, round_trips = line.split()
        m = re.search(r"^(?:summary|totals):\s*(\d+)", Path(f"{out}.{i}").read_text(), re.M)
        rows.append((name, (int(m.group(1)) if m else 0) // n, int(round_trips) / n))
    return rows


async def _outer(args: argparse.Namespace) -> list[tuple[str, int, float]]:
    with tempfile.TemporaryDirectory(prefix="session-login-instr-") as tmp:
        work = Path(tmp)
        prefix = new_prefix("logininstr")
        async with (
            scratch_database("sqlite", args.pg_url, work) as lite,
            scratch_database("postgres", args.pg_url, work) as pg,
        ):
            urls = {"sqlite": lite, "postgres": pg, "redis": with_prefix(args.redis_url, prefix)}
            try:
                return await asyncio.to_thread(count, args.cases, args.n, urls, work)
            finally:
                await delete_prefix(args.redis_url, prefix)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.login_instructions")
    p.add_argument("cases", nargs="*", help=f"store:scenario (default: {' '.join(DEFAULT_CASES)})")
    p.add_argument("-n", type=int, default=500, help="measured logins per case")
    add_server_flags(p)
    p.add_argument("--url", action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--trips", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.cases = args.cases or DEFAULT_CASES
    if args.inner:
        urls = dict(u.split("=", 1) for u in args.url)
        asyncio.run(_inner(args.cases, args.n, urls, args.trips))
        return 0
    rows = asyncio.run(_outer(args))
    free: dict[str, tuple[int, float]] = {}
    print(
        f"{'case':20} {'instructions/login':>20} {'round trips/login':>18} {'free ÷ limited':>15}"
    )
    for name, per, trips in rows:
        case, limit = name.rsplit(":", 1)
        ratio = ""
        if limit == "0":
            free[case] = (per, trips)
        else:
            ratio = f"{free[case][0] / per:.2f}x"
        print(f"{name:20} {per:>20,} {trips:>18.2f} {ratio:>15}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
