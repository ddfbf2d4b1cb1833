"""``python -m benchmarks.metrics_bench [--stores sqlite,postgres,memory] [--rounds 7]``: what
the metrics cost a read request, against ``main`` in the same run.

Each row is one variant, each round runs every variant once in a fresh process of its own
(alternating, so a load spike on the shared machine hits all variants alike), and a variant's
figure is its median CPU µs (this process's ``process_time``, so a loaded machine's waits
for a core do not count) per read request; the ratio is ``main``'s median over the variant's
(1.00: as fast as main; the issue's floor is 0.95 with the SDK, 0.99 with the API alone).
A request is a raw ASGI call through the real middleware (no HTTP server or client in the
way: what is left is the session work and Starlette), sending the cookie of a stored session
and changing nothing, so the store work is one load.

Variants: ``main`` (the code of ``--baseline-ref``, unpacked with ``git archive``), ``off``
(``SESSION_METRICS=false``), ``api`` (metrics on, the OpenTelemetry API alone: no SDK, no
provider), ``sdk`` (the SDK with a periodic reader, ``SESSION_METRICS_SAMPLE`` at its default)
and ``sdk-every`` (the same timing every store call: the durations' own cost).
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

from ._common import Kind, asyncpg_dsn, scratch_database

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
VARIANTS = ("main", "off", "api", "sdk", "sdk-every")

#: Run in a fresh interpreter: ``sys.argv`` = [code root, url, variant, n]. Imports the
#: session_service found at the code root (the editable install's finder set aside).
WORKER = r"""
import asyncio, os, sys, time
root, url, variant, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if variant == "main":  # the unpacked tree, not the editable install of this one
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, root)
os.environ["SESSION_METRICS"] = "false" if variant == "off" else "true"
if variant == "sdk-every":
    os.environ["SESSION_METRICS_SAMPLE"] = "1"
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

settings = SessionSettings.from_env({
    "SESSION_DB_URL": url, "SESSION_SECRET_KEY": "b" * 40, "SESSION_CLEANUP_INTERVAL_SECONDS": "0",
})
service = DefaultSessionService(None, settings)

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
    for _ in range(n // 5):
        assert (await call("/r", cookie))["status"] == 200
    began = time.process_time()
    for _ in range(n):
        await call("/r", cookie)
    elapsed = time.process_time() - began
    await service.close()
    print(elapsed / n * 1e6)

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


def _run(root: Path, url: str, variant: str, n: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(root), url, variant, str(n)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


async def _bench(
    store: str, args: argparse.Namespace, base: Path, work: Path
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    if store == "memory":
        urls = {v: f"memory://bench-{v}" for v in VARIANTS}
        return await _rounds(urls, args, base, times)
    kind: Kind = "sqlite" if store == "sqlite" else "postgres"
    async with scratch_database(kind, args.pg, work) as url:
        return await _rounds({v: url for v in VARIANTS}, args, base, times)


async def _rounds(
    urls: dict[str, str], args: argparse.Namespace, base: Path, times: dict[str, list[float]]
) -> dict[str, list[float]]:
    for done in range(args.rounds):
        for variant in VARIANTS:
            root = base if variant == "main" else ROOT
            url = urls[variant].replace("postgresql+asyncpg://", "postgresql://")
            times[variant].append(await asyncio.to_thread(_run, root, url, variant, args.n))
        print(f"round {done + 1}: {times}", file=sys.stderr, flush=True)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_bench")
    parser.add_argument("--stores", default="sqlite,postgres,memory")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-n", type=int, default=3000, help="timed requests per process")
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
    print(f"| store | variant | CPU µs/request (median of {args.rounds}) | main ÷ variant |")
    print("| --- | --- | --- | --- |")
    for store, times in rows.items():
        main_median = statistics.median(times["main"])
        for variant in VARIANTS:
            median = statistics.median(times[variant])
            print(f"| {store} | {variant} | {median:.1f} | {main_median / median:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
