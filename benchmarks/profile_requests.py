"""``python -m benchmarks.profile_requests {sqlite|postgres} {read|write}``: where a request's
Python time goes, per function, through the real middleware.

The benchmark app (:mod:`benchmarks.apps`, variant ``ours-*``) is called in-process as a raw
ASGI app, many times, under pyinstrument; no HTTP server or client is in the way, so what is
left is the middleware, the session, the cookie, the store and Starlette. Prints each
``session_service`` function's inclusive share of the time, then the top self-time entries
overall. Percentages are what to read: the profiler's own overhead inflates the µs figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

from ._common import Kind, add_server_flags, scratch_database
from .apps import build


async def _call(app: Any, path: str, cookie: bytes | None) -> tuple[int, list[Any]]:
    headers = [(b"host", b"bench")] + ([(b"cookie", cookie)] if cookie else [])
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], list(sent[0].get("headers", []))


def _summary(profiler: Profiler, n: int, label: str) -> str:
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    assert root is not None
    total = root.time
    inclusive: dict[tuple[str, str], float] = {}
    own: dict[tuple[str, str], float] = {}

    def walk(frame: Any, outer: frozenset[tuple[str, str]]) -> None:
        key = (frame.file_path_short or "", frame.function)
        own[key] = own.get(key, 0.0) + frame.total_self_time
        if key not in outer:  # recursion: count the outermost call only
            inclusive[key] = inclusive.get(key, 0.0) + frame.time
        for child in frame.children:
            walk(child, outer | {key})

    walk(root, frozenset())
    lines = [f"{label}: {n} requests, {total / n * 1e6:.1f} µs/request under the profiler"]
    lines.append("-- session_service, inclusive")
    for (path, fn), t in sorted(inclusive.items(), key=lambda kv: -kv[1]):
        if "session_service" in path:
            lines.append(f"{100 * t / total:5.1f}%  {path}:{fn}")
    lines.append("-- self time, top 25 (all code)")
    for (path, fn), t in sorted(own.items(), key=lambda kv: -kv[1])[:25]:
        lines.append(f"{100 * t / total:5.1f}%  {path}:{fn}")
    return "\n".join(lines)


async def _profile(kind: str, route: str, n: int, pg: str) -> str:
    from session_service import SessionStoreBackend

    with tempfile.TemporaryDirectory(prefix="session-profile-") as tmp:
        os.environ.setdefault("BENCH_DATA_DIR", tmp)
        store: Kind = "postgres" if kind == "postgres" else "sqlite"
        async with scratch_database(store, pg, Path(tmp)) as url:
            backend = await SessionStoreBackend.connect(url)
            await backend.migrate()
            await backend.close()
            app = build("ours-pg" if kind == "postgres" else "ours-sqlite", url, "p" * 40)
            _, headers = await _call(app, "/write", None)
            cookie = next(v for k, v in headers if k == b"set-cookie").split(b";")[0]
            for _ in range(300):  # warm: pools, prepared statements, caches
                await _call(app, f"/{route}", cookie)
            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
            for _ in range(n):
                status, _ = await _call(app, f"/{route}", cookie)
                if status != 200:
                    raise SystemExit(f"/{route} answered {status}")
            profiler.stop()
            return _summary(profiler, n, f"{kind} {route}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_requests")
    p.add_argument("kind", choices=["sqlite", "postgres"])
    p.add_argument("route", choices=["read", "write"])
    p.add_argument("-n", type=int, default=4000, help="profiled requests")
    add_server_flags(p, redis=False)
    args = p.parse_args(argv)
    print(asyncio.run(_profile(args.kind, args.route, args.n, args.pg_url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
