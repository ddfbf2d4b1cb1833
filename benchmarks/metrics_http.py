"""HTTP rps per core with metrics off, on with the API alone, and on with the SDK (issue 28).

The rps companion of :mod:`benchmarks.metrics_bench` (which counts the same cost in-process):
each variant is its own uvicorn app from :mod:`benchmarks.apps` (``ours-{db}-nometrics``,
``ours-{db}`` — the library's default, metrics on with no SDK provider — and ``ours-{db}-sdk``,
an SDK ``MeterProvider`` with a periodic reader), all held to one core with wrk on the other
(:func:`benchmarks.per_core.pinned_rounds`), the cases alternating round after round. A ratio
is the median of the per-round ratios ``variant / off``.

``python -m benchmarks.metrics_http`` prints the table and the issue's targets.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from ._common import (
    Section,
    Table,
    Target,
    add_round_flags,
    add_server_flags,
    fmt,
    median,
    paired_ratio,
    scratch_database,
)
from .per_core import _migrate, _spread, pinned_rounds

#: variant suffix → (label, read target vs off)
VARIANTS = {"-nometrics": ("off", None), "": ("api", 0.99), "-sdk": ("sdk", 0.95)}


def run(urls: dict[str, str], rounds: int, seconds: float) -> Section:
    """The pinned rounds for every store in ``urls`` (``sqlite``/``pg`` → database URL)."""
    specs = {
        f"{db}-{label}": (f"ours-{db}{suffix}", url)
        for db, url in urls.items()
        for suffix, (label, _goal) in VARIANTS.items()
    }
    rps = pinned_rounds(specs, rounds, seconds)
    table = Table(
        f"HTTP per core with metrics off / API only / SDK: median of {rounds} rounds of "
        f"{seconds:g} s (uvicorn pinned to core 0, wrk -t1 -c32 to core 1)",
        ["store", "metrics", "read rps", "write rps", "read / off", "write / off"],
    )
    section = Section(tables=[table])
    for db in urls:
        off_r, off_w = rps[(f"{db}-off", "read")], rps[(f"{db}-off", "write")]
        for _suffix, (label, goal) in VARIANTS.items():
            r, w = rps[(f"{db}-{label}", "read")], rps[(f"{db}-{label}", "write")]
            table.rows.append(
                [
                    db,
                    label,
                    fmt(median(r), 0),
                    fmt(median(w), 0),
                    "-" if label == "off" else f"{paired_ratio(r, off_r):.3f}x",
                    "-" if label == "off" else f"{paired_ratio(w, off_w):.3f}x",
                ]
            )
            if goal is not None:
                section.targets.append(
                    Target(
                        f"HTTP read rps per core, {db}: metrics {label} / off",
                        paired_ratio(r, off_r),
                        goal,
                        True,
                        detail=_spread(r, off_r),
                    )
                )
    table.note = (
        "Each variant's own uvicorn process, all pinned to one core (idle ones cost nothing); "
        "the database servers are not pinned. The SDK variant exports every 60 s (the SDK's "
        "default), so a 4 s run sees the counting, not the export."
    )
    return section


async def _main(args: argparse.Namespace) -> Section:
    with tempfile.TemporaryDirectory(prefix="session-metrics-http-") as tmp:
        work = Path(tmp)
        async with scratch_database("sqlite", args.pg_url, work) as lite:
            await _migrate(lite)
            if args.no_pg:
                return await asyncio.to_thread(run, {"sqlite": lite}, args.rounds, args.seconds)
            async with scratch_database("postgres", args.pg_url, work) as pg:
                await _migrate(pg)
                urls = {"sqlite": lite, "pg": pg}
                return await asyncio.to_thread(run, urls, args.rounds, args.seconds)


def main(argv: list[str] | None = None) -> int:
    from .report import print_report

    p = argparse.ArgumentParser(prog="python -m benchmarks.metrics_http")
    add_round_flags(p)
    add_server_flags(p, redis=False, skips=True)
    args = p.parse_args(argv)
    print_report(asyncio.run(_main(args)), args.rounds >= 3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
