"""HTTP read and write rps per core with ``SESSION_ENCRYPTION_KEYS`` set against unset, on
SQLite, PostgreSQL and Redis (issue 25's "encryption on vs off ≥ 0.9x read, ≥ 0.85x write").

The same app both ways (:mod:`benchmarks.apps`, ``ours-*`` and ``ours-*-encrypted``), pinned as
in :mod:`benchmarks.per_core`; each ratio is the median of per-round ratios, the cases
alternating round after round. ``python -m benchmarks.encryption_http [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from ._common import fmt_ratio, median, paired_ratio, scratch_database
from .per_core import _migrate, pinned_rounds
from .redis_bench import delete_prefix, new_prefix, with_prefix

GOALS = {"read": 0.9, "write": 0.85}


def run(pg_url: str, redis_url: str, rounds: int, seconds: float, workdir: Path) -> list[str]:
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
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="session-enc-bench-") as tmp:
        lines = run(args.pg_url, args.redis_url, args.rounds, args.seconds, Path(tmp))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
