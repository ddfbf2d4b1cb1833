"""HTTP read and write rps per core with ``SESSION_ENCRYPTION_KEYS`` set against unset, on
SQLite, PostgreSQL and Redis (issue 25's "encryption on vs off ≥ 0.9x read, ≥ 0.85x write").

The same app both ways (:mod:`benchmarks.apps`, ``ours-*`` and ``ours-*-encrypted``), pinned as
in :mod:`benchmarks.per_core`; each ratio is the median of per-round ratios, the cases
alternating round after round. ``python -m benchmarks.encryption_http [--rounds N]``.

``--sessions N``: every request carries another of N sessions (``benchmarks/many.lua``), not
the one session of every other row, so nothing a process remembers per session (the cookie
check, the id's hash, the cipher's remembered opens: 4,096 entries each) helps: the cold
read and write of a process serving many browsers.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from ._common import alternating, fmt_ratio, median, paired_ratio, scratch_database
from .http_bench import ensure_wrk, parse_wrk, pinned, start_server, stop_server
from .per_core import APP_CPU, LOAD_CPU, _migrate, pinned_rounds
from .redis_bench import delete_prefix, new_prefix, with_prefix

GOALS = {"read": 0.9, "write": 0.85}


MANY_SCRIPT = Path(__file__).with_name("many.lua")


def many_rounds(
    specs: dict[str, tuple[str, str]], rounds: int, seconds: float, sessions: int, workdir: Path
) -> dict[tuple[str, str], list[float]]:
    """:func:`~.per_core.pinned_rounds` with every request on another of ``sessions``
    sessions, made by ``GET /write`` without a cookie before the rounds."""
    running = {label: start_server(v, url, cpu=APP_CPU) for label, (v, url) in specs.items()}
    try:
        files = {}
        for label, server in running.items():
            cookies = []
            for _ in range(sessions):
                with urllib.request.urlopen(f"{server.base}/write", timeout=5) as r:
                    cookies.append(r.headers.get("set-cookie", "").split(";", 1)[0])
            files[label] = workdir / f"{label}.cookies"
            files[label].write_text("\n".join(cookies) + "\n")

        def wrk(label: str, path: str, secs: float) -> float:
            url = f"{running[label].base}/{path}"
            cmd = [*pinned(LOAD_CPU), ensure_wrk(), "-t1", "-c32", f"-d{max(1, round(secs))}s"]
            cmd += ["--latency", "-s", str(MANY_SCRIPT), url, "--", str(files[label])]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            return parse_wrk(out, url).rps

        cases = [(label, path) for path in ("read", "write") for label in running]
        for label, path in cases:  # warm-up: every session's row in the page cache
            wrk(label, path, 1)
        return alternating(cases, rounds, lambda case: wrk(*case, seconds))
    finally:
        for server in running.values():
            stop_server(server)


def run(
    pg_url: str, redis_url: str, rounds: int, seconds: float, workdir: Path, sessions: int = 0
) -> list[str]:
    lines = ["| store | path | off rps | on rps | on / off | goal |", "|---|---|---|---|---|---|"]
    prefix = new_prefix("enc")

    async def body() -> dict[tuple[str, str], list[float]]:
        async with (
            scratch_database("sqlite", pg_url, workdir) as lite,
            scratch_database("postgres", pg_url, workdir) as pg,
        ):
            await _migrate(lite)
            await _migrate(pg)
            r_url = with_prefix(redis_url, prefix)
            specs = {}
            for kind, url in (("sqlite", lite), ("pg", pg), ("redis", r_url)):
                specs[f"{kind}-off"] = (f"ours-{kind}", url)
                specs[f"{kind}-on"] = (f"ours-{kind}-encrypted", url)
            if sessions:
                return await asyncio.to_thread(
                    many_rounds, specs, rounds, seconds, sessions, workdir
                )
            return await asyncio.to_thread(pinned_rounds, specs, rounds, seconds)

    try:
        rps = asyncio.run(body())
    finally:
        asyncio.run(delete_prefix(redis_url, prefix))
    for kind in ("sqlite", "pg", "redis"):
        for path in ("read", "write"):
            off, on = rps[(f"{kind}-off", path)], rps[(f"{kind}-on", path)]
            lines.append(
                f"| {kind} | {path} | {median(off):,.0f} | {median(on):,.0f} | "
                f"{fmt_ratio(paired_ratio(on, off))} | ≥ {GOALS[path]}x |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.encryption_http")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--sessions", type=int, default=0, help="requests spread over N sessions")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="session-enc-bench-") as tmp:
        lines = run(
            args.pg_url, args.redis_url, args.rounds, args.seconds, Path(tmp), args.sessions
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
