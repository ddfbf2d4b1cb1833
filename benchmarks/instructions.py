"""``python -m benchmarks.instructions [VARIANT:ROUTE ...]``: CPU instructions per request.

Wall-clock rates on a shared machine move with the load; instruction counts do not. One
process under ``valgrind --tool=callgrind`` builds the benchmark app of each variant
(:mod:`benchmarks.apps`), calls it as a raw ASGI app (no HTTP server or client: what is left is
the middleware, the session, the cookie, the store, the driver and Starlette), warms it, then
counts ``-n`` requests: callgrind zeroes its counters when the process calls ``getppid()`` and
dumps them when it calls ``getegid()``, which bracket each measured loop. A database server's
own work is in another process and not counted; SQLite's is (it runs in the app's process).
So that two runs count the same work, the process has ``PYTHONHASHSEED=0`` (unless set) and
:mod:`random` is seeded before each measured loop (the metrics' sampled timing draws on it).

``--inner`` is the part that runs under valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._common import add_server_flags, scratch_database
from .redis_bench import delete_prefix, new_prefix, with_prefix

DEFAULT_CASES = [f"{v}:{r}" for v in ("cookie", "ours-sqlite", "floor", "ours-pg",
                 "starsessions-redis", "ours-redis") for r in ("read", "write")]  # fmt: skip


async def _call(app: Any, path: str, cookie: bytes | None) -> tuple[int, list[Any]]:
    headers = [(b"host", b"bench")] + ([(b"cookie", cookie)] if cookie else [])
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], list(sent[0].get("headers", []))


def _url(variant: str, urls: dict[str, str]) -> str:
    if variant == "floor" or variant.startswith("ours-pg"):
        return urls["pg"]
    if variant.startswith("ours-sqlite"):
        return urls["sqlite"]
    if variant.startswith("ours-redis"):  # and ours-redis-cached
        return urls["ours-redis"]
    return "memory://" if variant == "ours-memory" else ""


async def _requests(app: Any, route: str, cookies: list[bytes], n: int, concurrency: int) -> None:
    """``n`` requests, ``concurrency`` at a time, each on the next of ``cookies`` (one: all on
    the one session, as ``wrk`` sends; many: as ``benchmarks/many.lua`` sends)."""
    turn = iter(cookies * (n // len(cookies) + 1))

    async def one_by_one(k: int) -> None:
        for _ in range(k):
            status, _ = await _call(app, f"/{route}", next(turn))
            if status != 200:
                raise SystemExit(f"{route} answered {status}")

    await asyncio.gather(*(one_by_one(n // concurrency) for _ in range(concurrency)))


async def _new_cookie(app: Any) -> bytes:
    _, headers = await _call(app, "/write", None)
    cookie: bytes = next(v for k, v in headers if k == b"set-cookie").split(b";")[0]
    return cookie


async def _inner(
    cases: list[str],
    n: int,
    warm: int,
    urls: dict[str, str],
    concurrency: int = 1,
    sessions: int = 1,
) -> None:
    from .apps import build

    os.environ["BENCH_REDIS_PREFIX"] = urls["star-prefix"]
    for case in cases:
        variant, route = case.split(":")
        app = build(variant, _url(variant, urls), "i" * 40, urls["redis"])
        async with app.router.lifespan_context(app):
            cookies = [await _new_cookie(app) for _ in range(sessions)]
            await _requests(app, route, cookies, warm, concurrency)
            random.seed(0)  # the same sampled store calls in every run
            # What earlier cases left on the heap is set aside from the collector: a full
            # collection in the measured loop scans only what this case made.
            # The cycle goes on where the warm-up left it: with more sessions than any of the
            # process's memories hold (4,096 entries each), every measured request misses them.
            cookies = cookies[warm % sessions :] + cookies[: warm % sessions]
            gc.collect()
            gc.freeze()
            before = sum(g["collections"] for g in gc.get_stats())
            os.getppid()  # callgrind: zero the counters
            await _requests(app, route, cookies, n, concurrency)
            os.getegid()  # callgrind: dump them
            collections = sum(g["collections"] for g in gc.get_stats()) - before
            print(f"{case}: {collections} collections", file=sys.stderr)
            gc.unfreeze()


def count(
    cases: list[str],
    n: int,
    warm: int,
    urls: dict[str, str],
    work: Path,
    concurrency: int = 1,
    sessions: int = 1,
) -> dict[str, int]:
    """Instructions per request of each ``variant:route`` case (one valgrind process), with
    ``concurrency`` requests in flight at a time, over ``sessions`` sessions in turn."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "cg.out"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           "--zero-before=getppid", "--dump-before=getegid", sys.executable, "-m",
           "benchmarks.instructions", "--inner", "-n", str(n), "--warm", str(warm),
           "-c", str(concurrency), "--sessions", str(sessions),
           *(f"--url={k}={v}" for k, v in urls.items()), *cases]  # fmt: skip
    env = {"PYTHONHASHSEED": "0", **os.environ}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"valgrind failed:\n{done.stderr[-3000:]}")
    for line in done.stderr.splitlines():  # the collector's runs in each measured loop
        if line.endswith(" collections"):
            print(line, file=sys.stderr)
    totals = []
    for i in range(1, len(cases) + 1):
        text = Path(f"{out}.{i}").read_text()
        m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
        totals.append(int(m.group(1)) if m else 0)
    return {case: total // n for case, total in zip(cases, totals, strict=True)}


async def _outer(args: argparse.Namespace) -> dict[str, int]:
    from session_service import SessionStoreBackend

    with tempfile.TemporaryDirectory(prefix="session-instr-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("BENCH_DATA_DIR", tmp)
        ours, star = new_prefix("instr"), new_prefix("instrstar")
        async with (
            scratch_database("sqlite", args.pg_url, work) as lite,
            scratch_database("postgres", args.pg_url, work) as pg,
        ):
            for url in (lite, pg):
                backend = await SessionStoreBackend.connect(url)
                await backend.migrate()
                await backend.close()
            urls = {"sqlite": lite, "pg": pg, "redis": args.redis_url, "star-prefix": star,
                    "ours-redis": with_prefix(args.redis_url, ours)}  # fmt: skip
            try:
                if not args.separate:
                    return await asyncio.to_thread(
                        count, args.cases, args.n, args.warm, urls, work, args.c, args.sessions
                    )
                return await _separately(args, urls, work)
            finally:
                for prefix in (ours, star):
                    await delete_prefix(args.redis_url, prefix)


async def _separately(args: argparse.Namespace, urls: dict[str, str], work: Path) -> dict[str, int]:
    """``--separate``: each case in a valgrind process of its own (``--jobs`` at a time), so
    no case runs after another's (what an earlier case leaves behind, on the heap or in the
    database, weighs on a later one). A case named twice (``--repeat``) gets ``#2``...: its
    spread between processes."""
    cases = [f"{c}#{r}" if r > 1 else c for r in range(1, args.repeat + 1) for c in args.cases]
    gate = asyncio.Semaphore(args.jobs)

    async def one(i: int, case: str) -> dict[str, int]:
        async with gate:
            plain = case.split("#")[0]
            got = await asyncio.to_thread(
                count, [plain], args.n, args.warm, urls, work / str(i), args.c, args.sessions
            )
            return {case: got[plain]}

    found: dict[str, int] = {}
    for got in await asyncio.gather(*(one(i, c) for i, c in enumerate(cases))):
        found.update(got)
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    p.add_argument("cases", nargs="*", help=f"variant:route (default: {' '.join(DEFAULT_CASES)})")
    p.add_argument("-n", type=int, default=500, help="measured requests per case")
    p.add_argument("--warm", type=int, default=200, help="requests before measuring")
    p.add_argument("-c", type=int, default=1, help="requests in flight at a time (one session)")
    p.add_argument(
        "--sessions",
        type=int,
        default=1,
        help="requests in turn over N sessions (more than 4,096: every memory misses)",
    )
    p.add_argument("--separate", action="store_true", help="one valgrind process per case")
    p.add_argument("--jobs", type=int, default=1, help="with --separate: processes at a time")
    p.add_argument("--repeat", type=int, default=1, help="with --separate: processes per case")
    add_server_flags(p)
    p.add_argument("--url", action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.cases = args.cases or DEFAULT_CASES
    if args.inner:
        urls = dict(u.split("=", 1) for u in args.url)
        asyncio.run(_inner(args.cases, args.n, args.warm, urls, args.c, args.sessions))
        return 0
    for case, per in asyncio.run(_outer(args)).items():
        print(f"{case:28} {per:>10,} instructions per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
