"""Redis Cluster store against the single-node Redis store, in one run (issue 23).

The cluster (3 primaries, 3 replicas) and a standalone ``redis-server`` (the single-node
baseline, the same binary and settings) are started here on free ports, as the test suite
starts its cluster, unless ``--cluster-url`` and ``--url`` name running ones. Measured, as
alternating A/B rounds (:func:`~benchmarks._common.ab_rounds`) and reported as median ratios
cluster / single node, so a loaded machine shifts both sides alike:

* ``load`` of an anonymous session (one ``GET`` on both) and of a signed-in one (two on the
  cluster: the id key's pointer, then the value in the user's slot), sequential and with 32
  concurrent tasks;
* ``update`` of a signed-in session (the id key read, the script, the pointer's expiry);
* clear-by-user of 100 sessions among 10,000 and among 1,000,000 sessions (the cluster's
  clear runs in the user's slot alone, so its cost must not grow with the store);
* memory: ``used_memory`` summed over the primaries before and after a bulk of sessions,
  per million sessions;
* HTTP read and write rps of the benchmark app (:mod:`benchmarks.apps`) on the cluster against
  the same app on the single node, the app under ``taskset -c 0`` and wrk under ``taskset -c 1``
  as in :mod:`benchmarks.per_core` (the issue's at least 0.9x on reads), for each way a session
  gets signed in (``--sign-in``): ``login``, signed in by a login (``/anon`` then ``/write``
  rotating it), and ``create``, created already signed in (``/write`` alone, the app's default
  creation path). Either way its id carries its slot tag on the cluster (the middleware asks
  the store for a new session's id, ``SessionStoreBase.new_id``), so a read is one ``GET``.

``python -m benchmarks.cluster_bench [--quick] [--http-only] [--sign-in login|create|both]``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import redis

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from ._common import ab_rounds, concurrent_ops_per_s, fmt_ratio, median, paired_ratio
from .per_core import pinned_rounds
from .redis_bench import new_prefix


@contextmanager
def _standalone() -> Iterator[str]:
    from tests.support.redis_cluster import free_port, wait_until

    port = free_port()
    directory = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory,
         "--maxmemory-policy", "noeviction"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: _ping(port), "redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _ping(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _record(user: str | None) -> SessionRecord:
    data = {"cart": [1, 2, 3], "theme": "dark"} | ({} if user is None else {"user_id": user})
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1))


async def _bulk(backend: SessionStoreBackend, n: int, user: str | None = None) -> list[str]:
    ids: list[str] = []

    async def one(i: int) -> None:
        # signed in as the middleware signs in: created anonymous, then a login's rotate
        # (which gives a Redis Cluster id its slot tag: one GET per load)
        anonymous = await backend.create(_record(None))
        r = _record(user if user else f"bulk{i % 5000}")
        assert await backend.rotate(anonymous.id, r)
        ids.append(r.id)

    await concurrent_ops_per_s(one, n, 32)
    return ids


def _used_memory(url: str) -> int:
    from session_service.settings import split_cluster_url

    if url.startswith("redis+cluster"):
        total = 0
        for host, port in split_cluster_url(url):
            info = redis.Redis(host=host, port=port).info("memory")
            total += int(info["used_memory"])
        return total  # the seeds are the three primaries here
    return int(redis.Redis.from_url(url).info("memory")["used_memory"])


async def run(cluster_url: str, single_url: str, quick: bool) -> list[str]:
    rounds, n = (3, 300) if quick else (7, 2000)
    stores = {
        name: SessionStoreBackend.from_url(f"{url}?key_prefix={new_prefix(name)}")
        for name, url in (("cluster", cluster_url), ("single", single_url))
    }
    lines = []
    try:
        anon: dict[str, list[str]] = {}
        signed: dict[str, list[str]] = {}
        for name, b in stores.items():
            await b.migrate()
            anon[name] = [(await b.create(_record(None))).id for _ in range(500)]
            signed[name] = await _bulk(b, 500)

        def case(kind: str, name: str, concurrent: bool) -> object:
            b = stores[name]
            ids = anon[name] if kind == "anon" else signed[name]

            async def load(i: int) -> None:
                await b.load(ids[i % len(ids)])

            async def update(i: int) -> None:
                r = await b.load(ids[i % len(ids)])
                assert r is not None
                r.data["n"] = i
                await b.update(r)

            op = update if kind == "update" else load

            async def measure(_r: int) -> float:
                return await concurrent_ops_per_s(op, n, 32 if concurrent else 1)

            return measure

        for kind in ("anon", "signed", "update"):
            for concurrent in (False, True):
                figures = await ab_rounds(
                    {name: case(kind, name, concurrent) for name in stores},  # type: ignore[misc]
                    rounds,
                )
                ratio = paired_ratio(figures["cluster"], figures["single"])
                label = {"anon": "load, anonymous", "signed": "load, signed in",
                         "update": "load + update, signed in"}[kind]  # fmt: skip
                lines.append(
                    f"| {label} | {'32 tasks' if concurrent else 'sequential'} | "
                    f"{median(figures['cluster']):,.0f} | {median(figures['single']):,.0f} | "
                    f"{fmt_ratio(ratio)} |"
                )
        # clear-by-user of 100 sessions, in a small and a large cluster store
        cluster = stores["cluster"]
        timings = {}
        small, large = (2_000, 20_000) if quick else (10_000, 1_000_000)
        stored = 1000  # the load cases' sessions
        for label, size in (("small", small), ("large", large)):
            before = _used_memory(cluster_url)
            await _bulk(cluster, size - stored)
            if label == "large":
                per_million = (_used_memory(cluster_url) - before) / (size - stored) * 1e6
                lines.append(
                    f"| memory per 1M signed-in sessions (cluster primaries, measured from "
                    f"{small:,} to {large:,}) | - | {per_million / 2**20:,.0f} MiB | - | - |"
                )
            stored = size
            samples = []
            for r in range(rounds):
                await _bulk(cluster, 100, user=f"clear{label}{r}")
                t0 = time.perf_counter()
                assert await cluster.clear_sessions_for_user(f"clear{label}{r}") == 100
                samples.append(time.perf_counter() - t0)
            timings[label] = median(samples)
        lines.append(
            f"| clear-by-user of 100, among {large:,} / among {small:,} | - | "
            f"{timings['large'] * 1e3:.1f} ms | {timings['small'] * 1e3:.1f} ms | "
            f"{fmt_ratio(timings['large'] / timings['small'])} |"
        )
        for b in stores.values():
            await b.clear_all_sessions()
    finally:
        for b in stores.values():
            await b.close()
    return lines


#: ``--sign-in``: how the measured session is signed in (``start_server``'s ``login``).
SIGN_IN = {"login": True, "create": False}


def http_rows(
    cluster_url: str, single_url: str, rounds: int, seconds: float, sign_in: str = "both"
) -> list[str]:
    """Read and write rps per core, cluster / single node, alternating rounds, for a session
    signed in by a login, created signed in, or both (one run each)."""
    lines = []
    for way in SIGN_IN if sign_in == "both" else (sign_in,):
        rps = pinned_rounds(
            {
                "cluster": ("ours-redis", f"{cluster_url}?key_prefix={new_prefix('httpc')}"),
                "single": ("ours-redis", f"{single_url}?key_prefix={new_prefix('https')}"),
            },
            rounds,
            seconds,
            login=SIGN_IN[way],
        )
        how = "signed in by a login" if SIGN_IN[way] else "created signed in"
        lines += [
            f"| HTTP {path} rps per core, {how} (wrk -c32, {seconds:g} s runs, {rounds} "
            f"rounds) | - | {median(rps[('cluster', path)]):,.0f} | "
            f"{median(rps[('single', path)]):,.0f} | "
            f"{fmt_ratio(paired_ratio(rps[('cluster', path)], rps[('single', path)]))} |"
            for path in ("read", "write")
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--http-only", action="store_true", help="the HTTP rows alone")
    parser.add_argument(
        "--sign-in",
        choices=(*SIGN_IN, "both"),
        default="both",
        help="the HTTP rows' session: signed in by a login, created signed in, or both",
    )
    parser.add_argument("--cluster-url")
    parser.add_argument("--url")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.redis_cluster import redis_cluster

    with redis_cluster() as cluster, _standalone() as single:
        c_url, s_url = args.cluster_url or cluster.url, args.url or single
        rounds, seconds = (3, 1) if args.quick else (5, 5)
        lines = http_rows(c_url, s_url, rounds, seconds, args.sign_in)
        if not args.http_only:
            lines += asyncio.run(run(c_url, s_url, args.quick))
    print("| operation | mode | cluster | single node | cluster / single |")
    print("|---|---|---|---|---|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
