"""``python -m benchmarks.metrics_bench [--stores sqlite,postgres,memory] [--rounds 20]``: what
the metrics cost a read request, against metrics off in the same run.

Every variant runs in one long-lived worker process of its own, started (and warmed) before
any timing; then each round asks every worker in turn, in an order rotated round after round,
for ``-n`` read requests, and the worker answers with its CPU µs (``process_time``, so a
loaded machine's waits for a core do not count) per request. Only one worker runs at a time,
and the variants' batches interleave, so a load spike or a slow stretch of the machine falls
on all of them alike. A variant's figure is its median over the rounds, and its ratio is the
median over the rounds of ``off``'s batch ÷ the variant's batch of the same round (the
issue's ratio: 1.00 as fast as metrics off; the floor is 0.95 with the SDK, 0.99 with the API
alone). A request is a raw ASGI call through the real middleware (no HTTP server or client
in the way: what is left is the session work and Starlette), sending the cookie of a stored
session and changing nothing, so the store work is one load.

Variants: ``main`` (the code of ``--baseline-ref``, unpacked with ``git archive``), ``off``
(``SESSION_METRICS=false``), ``api`` (metrics on, the OpenTelemetry API alone: no SDK, no
provider), ``sdk`` (the SDK with a periodic reader, ``SESSION_METRICS_SAMPLE`` at its default)
and ``sdk-every`` (the same timing every store call: the durations' own cost). The settings
are given to ``SessionSettings.from_env`` as a mapping, so the variant's ``SESSION_METRICS*``
go into that mapping (the process environment is not read).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

from ._common import Kind, asyncpg_dsn, scratch_database

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
VARIANTS = ("main", "off", "api", "sdk", "sdk-every")

#: Run in a fresh interpreter: ``sys.argv`` = [code root, url, variant, warm-up requests].
#: Imports the session_service found at the code root (the editable install's finder set
#: aside), warms up, prints ``ready``, then for each line ``N`` on stdin runs ``N`` reads and
#: prints their CPU µs per request; stdin's end closes the service.
WORKER = r"""
import asyncio, os, sys, time
root, url, variant, warm = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if variant == "main":  # the unpacked tree, not the editable install of this one
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, root)
env = {"SESSION_DB_URL": url, "SESSION_SECRET_KEY": "b" * 40,
       "SESSION_CLEANUP_INTERVAL_SECONDS": "0",
       "SESSION_METRICS": "false" if variant == "off" else "true"}
if variant == "sdk-every":
    env["SESSION_METRICS_SAMPLE"] = "1"
if variant.startswith("sdk"):
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics import export
    exporter = export.ConsoleMetricExporter(out=open(os.devnull, "w"))
    reader = export.PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
import session_service
assert session_service.__file__.startswith(root), session_service.__file__
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from session_service import DefaultSessionService, SessionSettings

service = DefaultSessionService(None, SessionSettings.from_env(env))
assert (service.metrics is None) == (variant == "off"), (variant, service.metrics)

async def read(request):
    return PlainTextResponse(str(request.session.get("n")))

async def write(request):
    request.session["n"] = 1
    return PlainTextResponse("ok")

routes = [Route("/r", read), Route("/w", write)]
app = Starlette(routes=routes, middleware=[service.session_layer()])

async def call(path, cookie):
    headers = [(b"host", b"bench")] + ([(b"cookie", cookie)] if cookie else [])
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
             "server": ("bench", 80)}
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    return sent[0]

async def main():
    await service.migrate()
    start = await call("/w", None)
    cookie = next(v for k, v in start["headers"] if k == b"set-cookie").split(b";")[0]
    for _ in range(warm):
        assert (await call("/r", cookie))["status"] == 200
    print("ready", flush=True)
    for line in sys.stdin:  # blocks the loop between batches: nothing else runs on it
        n = int(line)
        began = time.process_time()
        for _ in range(n):
            await call("/r", cookie)
        print((time.process_time() - began) / n * 1e6, flush=True)
    await service.close()

asyncio.run(main())
"""


def _unpack(ref: str, into: Path, *extra: str) -> Path:
    """The package and its migrations as of ``ref`` (and the ``extra`` paths, e.g. the
    benchmark apps of that release) in ``into``, importable from there."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "session_service", "migrations", *extra],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    # The migrations ship inside the package as session_service.migrations.
    (into / "session_service" / "migrations").symlink_to(into / "migrations")
    return into


class _Worker:
    """One variant's worker process, warmed up and waiting for batches."""

    def __init__(self, root: Path, url: str, variant: str, warm: int) -> None:
        self.variant = variant
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), url, variant, str(warm)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tempfile.gettempdir(),
        )
        self._expect("ready")

    def _line(self) -> str:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        line = out.readline().strip()
        if not line:
            self.proc.wait()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise SystemExit(f"{self.variant} failed:\n{err}")
        return line

    def _expect(self, word: str) -> None:
        line = self._line()
        if line != word:
            raise SystemExit(f"{self.variant} said {line!r}, not {word!r}")

    def batch(self, n: int) -> float:
        """CPU µs per request of ``n`` reads."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        return float(self._line())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


async def _bench(
    store: str, args: argparse.Namespace, base: Path, work: Path
) -> dict[str, list[float]]:
    if store == "memory":
        return await asyncio.to_thread(
            _rounds, {v: f"memory://bench-{v}" for v in VARIANTS}, args, base
        )
    kind: Kind = "sqlite" if store == "sqlite" else "postgres"
    async with scratch_database(kind, args.pg, work) as url:
        return await asyncio.to_thread(_rounds, {v: url for v in VARIANTS}, args, base)


def _rounds(urls: dict[str, str], args: argparse.Namespace, base: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    workers: list[_Worker] = []
    try:
        for variant in VARIANTS:  # one at a time: each migrates and writes its session
            root = base if variant == "main" else ROOT
            url = urls[variant].replace("postgresql+asyncpg://", "postgresql://")
            workers.append(_Worker(root, url, variant, args.warm))
        for done in range(args.rounds):
            k = done % len(workers)
            for worker in workers[k:] + workers[:k]:  # rotated: no variant always goes first
                times[worker.variant].append(worker.batch(args.n))
            print(f"round {done + 1}: {times}", file=sys.stderr, flush=True)
    finally:
        for worker in workers:
            worker.close()
    return times


def _ratio(times: dict[str, list[float]], variant: str) -> float:
    """The median over the rounds of ``off``'s batch ÷ ``variant``'s of the same round."""
    return statistics.median(o / v for o, v in zip(times["off"], times[variant], strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_bench")
    parser.add_argument("--stores", default="sqlite,postgres,memory")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("-n", type=int, default=2000, help="timed requests per batch")
    parser.add_argument("--warm", type=int, default=1000, help="requests before the rounds")
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--baseline-ref", default="main")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    asyncpg_dsn(args.pg)  # a bad URL fails here, before any round
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = _unpack(args.baseline_ref, Path(tmp) / "base")
        work = Path(tmp)
        for store in args.stores.split(","):
            rows[store] = asyncio.run(_bench(store, args, base, work))
    print(f"| store | variant | CPU µs/request (median of {args.rounds}) | off ÷ variant |")
    print("| --- | --- | --- | --- |")
    for store, times in rows.items():
        for variant in VARIANTS:
            median = statistics.median(times[variant])
            print(f"| {store} | {variant} | {median:.1f} | {_ratio(times, variant):.3f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
