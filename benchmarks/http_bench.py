"""HTTP benchmarks: one uvicorn process per variant on 127.0.0.1, load from ``wrk``.

All servers start first (idle ones cost nothing); then each round runs ``wrk`` against every
variant in turn, alternating the order, so the per-round ratios compare neighbours in time.
Each server gets its cookie from one ``GET /write`` before measuring.

Only 2xx answers are throughput: ``rps`` counts them alone, and a run that got any other status
(wrk's "Non-2xx or 3xx responses") stops the benchmark with :class:`BenchmarkFailed` instead of
reporting an error page's speed. (The apps never redirect, so wrk's count is the non-2xx count.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._common import (
    BenchmarkFailed,
    Section,
    Table,
    Target,
    fmt,
    fmt_ratio,
    median,
    paired_ratio,
)
from .apps import PG_POOL_SIZE
from .cache_bench import cache_targets
from .redis_bench import delete_prefix, new_prefix, with_prefix

ROOT = Path(__file__).resolve().parent.parent
SECRET = "benchmark-secret-key-0123456789-abcdefghijkl"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def ensure_wrk() -> str:
    """The path of ``wrk``; installs the Debian package when running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing it with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(
        "the HTTP benchmarks need wrk: install it (Debian/Ubuntu: `sudo apt-get install wrk`) "
        "or run with --no-http"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    variant: str
    port: int
    proc: subprocess.Popen[bytes]
    cookie: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_server(
    variant: str, db_url: str = "", redis_url: str = "", redis_prefix: str = "",
    cpu: int | None = None, root: Path = ROOT, login: bool = False,
    extra_env: Mapping[str, str] | None = None,
) -> Server:  # fmt: skip
    """One uvicorn process serving ``variant``; ``cpu``: pinned to that core (``taskset``);
    ``root``: the tree whose ``benchmarks.apps`` and ``session_service`` it imports (another
    release's, unpacked, for a comparison across versions; by default this tree); ``login``:
    the measured session is signed in by a login (``/anon``, then ``/write`` rotating it),
    not created signed in; ``extra_env``: more of the app's environment (``BENCH_MAX_PER_USER``)."""
    port = _free_port()
    env = {
        **os.environ,
        "BENCH_VARIANT": variant,
        "BENCH_DB_URL": db_url,
        "BENCH_SECRET": SECRET,
        "BENCH_REDIS_URL": redis_url,
        "BENCH_REDIS_PREFIX": redis_prefix,
        "PYTHONPATH": str(root),
        **(extra_env or {}),
    }
    cmd = [*pinned(cpu), sys.executable, "-m", "uvicorn", "benchmarks.apps:create_app"]
    cmd += ["--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    cmd += ["--log-level", "warning", "--lifespan", "on"]
    proc = subprocess.Popen(cmd, env=env, cwd=root)
    server = Server(variant, port, proc)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the {variant} server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{server.base}/ping", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.1)
    else:
        stop_server(server)
        raise RuntimeError(f"the {variant} server did not answer within 20 s")
    first = urllib.request.Request(f"{server.base}/{'anon' if login else 'write'}")
    with urllib.request.urlopen(first, timeout=5) as r:
        server.cookie = r.headers.get("set-cookie", "").split(";", 1)[0]
    if login:
        signing_in = urllib.request.Request(
            f"{server.base}/write", headers={"Cookie": server.cookie}
        )
        with urllib.request.urlopen(signing_in, timeout=5) as r:
            server.cookie = r.headers.get("set-cookie", "").split(";", 1)[0]
    if variant != "none" and "=" not in server.cookie:
        stop_server(server)
        raise RuntimeError(f"the {variant} server set no session cookie")
    return server


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@contextlib.contextmanager
def servers(
    specs: dict[str, tuple[str, str]], redis_prefix: str = ""
) -> Iterator[dict[str, Server]]:
    """Start one server per variant (``{variant: (db_url, redis_url)}``); stop them after."""
    started: dict[str, Server] = {}
    try:
        for variant, (db_url, redis_url) in specs.items():
            started[variant] = start_server(variant, db_url, redis_url, redis_prefix)
        yield started
    finally:
        for server in started.values():
            stop_server(server)


@dataclass
class WrkResult:
    rps: float  # 2xx answers per second
    requests: int  # every answer, whatever its status
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors (connect, read, write, timeout)
    non_2xx: int = 0
    raw: str = field(repr=False, default="")


def _latency(text: str, pct: str) -> float:
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def pinned(cpu: int | None) -> list[str]:
    """The ``taskset -c CPU`` prefix of a command (nothing when ``cpu`` is ``None``)."""
    return [] if cpu is None else ["taskset", "-c", str(cpu)]


def run_wrk(
    wrk: str, url: str, cookie: str, seconds: float, connections: int = 32, threads: int = 1,
    cpu: int | None = None,
) -> WrkResult:  # fmt: skip
    cmd = [*pinned(cpu), wrk, f"-t{threads}", f"-c{connections}"]
    cmd.append(f"-d{max(1, round(seconds))}s")
    cmd.append("--latency")
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out, url)


def parse_wrk(out: str, url: str) -> WrkResult:
    """wrk's ``--latency`` output; raises :class:`BenchmarkFailed` on any non-2xx answer."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if total is None:
        raise BenchmarkFailed(f"wrk printed no request count for {url}:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    if bad:
        raise BenchmarkFailed(
            f"{bad} of {total.group(1)} answers from {url} were not 2xx: only successful "
            "requests are throughput, so this run measures nothing (see the server's log)"
        )
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    requests = int(total.group(1))
    seconds = float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    return WrkResult(
        rps=requests / seconds if seconds else 0.0,
        requests=requests,
        p50_ms=_latency(out, "50"),
        p99_ms=_latency(out, "99"),
        errors=sum(int(g) for g in sock.groups()) if sock else 0,
        non_2xx=bad,
        raw=out,
    )


@dataclass(frozen=True)
class HttpConfig:
    seconds: float = 10.0
    rounds: int = 3
    connections: int = 32
    warmup: bool = True  # one 1 s wrk run per route before measuring


def _lat(runs: list[WrkResult]) -> str:
    p50 = fmt(median([x.p50_ms for x in runs]), 2)
    return f"{p50} / {fmt(median([x.p99_ms for x in runs]), 2)}"


def run_http_bench(
    cfg: HttpConfig, pg_url: str | None, sqlite_url: str, redis_url: str | None
) -> Section:
    """The HTTP table and its targets; ``pg_url`` ``None`` skips the PostgreSQL rows and
    ``redis_url`` ``None`` the Redis ones (both Redis variants write under fresh key prefixes,
    deleted afterwards)."""
    ours_prefix, star_prefix = new_prefix("http"), new_prefix("starsessions")
    try:
        return _run_http_bench(cfg, pg_url, sqlite_url, redis_url, ours_prefix, star_prefix)
    finally:
        if redis_url is not None:
            for prefix in (ours_prefix, star_prefix):
                asyncio.run(delete_prefix(redis_url, prefix))


def _run_http_bench(
    cfg: HttpConfig,
    pg_url: str | None,
    sqlite_url: str,
    redis_url: str | None,
    ours_prefix: str,
    star_prefix: str,
) -> Section:
    wrk = ensure_wrk()
    section = Section()
    specs: dict[str, tuple[str, str]] = {"none": ("", ""), "cookie": ("", "")}
    if pg_url:
        specs["floor"] = (pg_url, "")
    specs["starsessions-memory"] = ("", "")
    specs["ours-memory"] = ("memory://", "")
    if redis_url is not None:
        specs["starsessions-redis"] = ("", redis_url)
        specs["ours-redis"] = (with_prefix(redis_url, ours_prefix), "")
        specs["ours-redis-cached"] = specs["ours-redis"]
    for kind, url in (("sqlite", sqlite_url), ("pg", pg_url)):
        for suffix in ("", "-tracked", "-whole", "-absolute") if url else ():
            specs[f"ours-{kind}{suffix}"] = (url or "", "")
    if pg_url:
        specs["ours-pg-cached"] = (pg_url, "")
    results: dict[tuple[str, str], list[WrkResult]] = {}
    with servers(specs, star_prefix) as running:
        for server in running.values() if cfg.warmup else ():  # imports, pools, caches
            for path in ("read", "write"):
                run_wrk(wrk, f"{server.base}/{path}", server.cookie, 1, cfg.connections)
        cases = [(v, p) for v in running for p in ("read", "write")]
        for r in range(cfg.rounds):
            for variant, path in cases if r % 2 == 0 else reversed(cases):
                server = running[variant]
                res = run_wrk(
                    wrk, f"{server.base}/{path}", server.cookie, cfg.seconds, cfg.connections
                )
                results.setdefault((variant, path), []).append(res)
    table = Table(
        f"HTTP: uvicorn (1 process) + Starlette, wrk -c{cfg.connections} for {cfg.seconds:g} s "
        f"per run, median of {cfg.rounds} rounds",
        ["variant", "read rps", "read p50/p99 ms", "write rps", "write p50/p99 ms", "sock. errors"],
    )
    for variant in specs:
        rd, wr = results[(variant, "read")], results[(variant, "write")]
        table.rows.append(
            [
                variant,
                fmt(median([x.rps for x in rd]), 0),
                _lat(rd),
                fmt(median([x.rps for x in wr]), 0),
                _lat(wr),
                str(sum(x.errors for x in rd + wr)),
            ]
        )
    table.note = (
        "rps counts 2xx answers only (any other status fails the run). none: no session "
        "middleware; cookie: Starlette's signed-cookie SessionMiddleware; floor: see Floors; "
        "starsessions-memory / -redis: starsessions' InMemoryStore / RedisStore (same Redis "
        "database as ours-redis); ours-*: session_service's SessionMiddleware; ours-memory: "
        "on memory:// (one process); ours-redis: on Redis, its own key prefix; *-tracked: with "
        "SESSION_TRACK_DEVICES=true; ours-*-whole: its write saved whole (the "
        "whole session, not only the changed key); *-absolute: SESSION_ABSOLUTE_TTL_SECONDS=2*TTL;"
        " *-cached: SESSION_CACHE=local."
    )
    if pg_url:
        section.floors.append(
            "HTTP floor (PostgreSQL): Starlette + itsdangerous-signed id cookie + asyncpg pool "
            f"of {PG_POOL_SIZE} connections without reset (ours: SESSION_DB_POOL_SIZE="
            f"{PG_POOL_SIZE}); "
            "read = one prepared SELECT, write = that SELECT then a data-only "
            "UPDATE (`SET data, updated_at`, like the library's `UPDATE_DATA_SQL`), each on "
            "its own acquire, as the library does; no session library."
        )
    section.floors.append(
        "HTTP cookie (SQLite targets): Starlette's own signed-cookie `SessionMiddleware` (no "
        "database at all)."
    )
    section.floors.append(
        "HTTP starsessions-memory (memory target): starsessions 2 `SessionMiddleware` + "
        "`SessionAutoloadMiddleware` on its `InMemoryStore` (a dict in the process)."
    )
    if redis_url is not None:
        section.floors.append(
            "HTTP starsessions-redis (Redis targets): the same starsessions middleware on its "
            "`RedisStore` (one `GET` per request, and a `SET … EX` of the whole session after "
            "every request, read or write) on the same Redis database as ours-redis."
        )
    section.tables.append(table)

    def rps(variant: str, path: str) -> list[float]:
        return [x.rps for x in results[(variant, path)]]

    if pg_url:
        section.targets += [
            Target(
                "HTTP read rps: ours-on-PG / floor",
                paired_ratio(rps("ours-pg", "read"), rps("floor", "read")),
                0.95,
                higher_is_better=True,
            ),
            Target(
                "HTTP write rps: ours-on-PG / floor",
                paired_ratio(rps("ours-pg", "write"), rps("floor", "write")),
                0.9,
                higher_is_better=True,
            ),
            Target(
                "HTTP read rps on PG: device tracking on / off",
                paired_ratio(rps("ours-pg-tracked", "read"), rps("ours-pg", "read")),
                0.95,
                higher_is_better=True,
            ),
            Target(
                "HTTP write rps on PG: delta save / whole-session save",
                paired_ratio(rps("ours-pg", "write"), rps("ours-pg-whole", "write")),
                0.95,
                higher_is_better=True,
            ),
        ]
    if redis_url is not None:
        section.targets += [
            Target(
                f"HTTP {path} rps: ours-on-Redis / starsessions RedisStore",
                paired_ratio(rps("ours-redis", path), rps("starsessions-redis", path)),
                1.5,
                higher_is_better=True,
            )
            for path in ("read", "write")
        ]
    section.targets.append(
        Target(
            "HTTP read rps: ours-on-memory / starsessions InMemoryStore",
            paired_ratio(rps("ours-memory", "read"), rps("starsessions-memory", "read")),
            0.95,
            higher_is_better=True,
            detail="write (not a target): "
            + fmt_ratio(
                paired_ratio(rps("ours-memory", "write"), rps("starsessions-memory", "write"))
            ),
        )
    )
    section.targets += [
        Target(
            "HTTP read rps: ours-on-SQLite / Starlette cookie",
            paired_ratio(rps("ours-sqlite", "read"), rps("cookie", "read")),
            0.95,
            higher_is_better=True,
        ),
        Target(
            "HTTP write rps: ours-on-SQLite / Starlette cookie",
            paired_ratio(rps("ours-sqlite", "write"), rps("cookie", "write")),
            0.6,
            higher_is_better=True,
        ),
        Target(
            "HTTP read rps on SQLite: device tracking on / off",
            paired_ratio(rps("ours-sqlite-tracked", "read"), rps("ours-sqlite", "read")),
            0.95,
            higher_is_better=True,
        ),
        Target(
            "HTTP write rps on SQLite: delta save / whole-session save",
            paired_ratio(rps("ours-sqlite", "write"), rps("ours-sqlite-whole", "write")),
            0.95,
            higher_is_better=True,
        ),
    ]
    section.targets += [
        Target(f"HTTP read rps on {name}: absolute timeout set / unset", paired_ratio(
            rps(f"ours-{kind}-absolute", "read"), rps(f"ours-{kind}", "read")), 0.97, True)
        for kind, name in (("sqlite", "SQLite"), ("pg", "PG")) if kind == "sqlite" or pg_url
    ]  # fmt: skip
    section.targets += cache_targets(rps, pg=bool(pg_url), redis=redis_url is not None)
    return section


def fmt_rss(value: float) -> str:
    return f"{value / 2**20:,.1f} MiB"


__all__ = ["HttpConfig", "fmt_ratio", "fmt_rss", "run_http_bench", "run_wrk", "start_server"]
