"""Scale: does a session cost the same in a big table, during cleanup, and after many requests?

* ``load`` and ``clear_sessions_for_user`` latency with a small and a large table (default 10k
  and 1M sessions of 1,000 users, a tenth expired), the two databases measured alternately.
  Clear-by-user clears a fresh user holding 5 sessions in both, so only the table size differs.
  On Redis the same rows, with two key prefixes of one database for the two sizes (all
  sessions live, loaded through the store's ``create``) and a fresh user holding 100 sessions.
* ``delete_expired`` over many expired rows while one reader task loads sessions: a separate
  sampler task, on a fixed 2 ms schedule, times from the instant it *should* have started a
  ``load`` to the instant the ``load`` returned, so an event loop stalled by the cleanup shows
  up as latency (a sample timed only around the call would miss it). Its p99 during the
  cleanup against its p99 just before it, in the same round; the reader's own call p99 and the
  loop lag are reported beside it.
* RSS of an app process (ours, via uvicorn) after a small and a large number of requests
  (SQL kinds; the cleanup and RSS parts do not run on Redis).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id

from ._common import (
    Kind,
    Section,
    Table,
    Target,
    ab_rounds,
    bulk_load,
    fmt,
    fmt_ratio,
    median,
    paired_ratio,
    percentile,
    scratch_database,
    sequential_us,
    session_data,
)
from .http_bench import fmt_rss, run_wrk, start_server, stop_server
from .redis_bench import BULK_TASKS, bulk_create, redis_scratch, used_memory
from .store_bench import TTL, _now

Case = Callable[[int], Awaitable[float]]
#: Sessions of the fresh user each clear-by-user call clears: 5 on SQL, 100 on Redis (whose
#: clear is one script walking the user's index; the Redis scale rows of RESULTS.md).
SQL_CLEARED = 5
REDIS_CLEARED = 100
CLEARS_PER_ROUND = 20


@dataclass(frozen=True)
class ScaleConfig:
    small: int = 10_000
    large: int = 1_000_000
    cleanup_rows: int = 500_000
    rss_small: int = 10_000
    rss_large: int = 100_000
    ops: int = 1000
    rounds: int = 3
    idle_seconds: float = 3.0


async def _sized(kind: Kind, pg: str, workdir: Path, cfg: ScaleConfig, label: str) -> Section:
    section = Section()
    async with (
        scratch_database(kind, pg, workdir) as small_url,
        scratch_database(kind, pg, workdir) as large_url,
    ):
        backends: dict[int, SessionStoreBackend] = {}
        live: dict[int, list[str]] = {}
        try:
            for size, url in ((cfg.small, small_url), (cfg.large, large_url)):
                backends[size] = b = await SessionStoreBackend.connect(url)
                await b.migrate()
                t0 = time.perf_counter()
                live[size] = await bulk_load(kind, url, size, users=1000, expired_fraction=0.1)
                section.notes.append(
                    f"{label}: bulk-loaded {size:,} sessions in {time.perf_counter() - t0:.1f} s."
                )
            section.extend(await _sized_rounds(backends, live, cfg, label, SQL_CLEARED))
        finally:
            for b in backends.values():
                await b.close()
    return section


async def _sized_redis(url: str, cfg: ScaleConfig) -> Section:
    """The sized rows on Redis: two key prefixes (small, large) of one database, loaded through
    the store's own ``create`` (the key layout is the store's), each deleted afterwards."""
    section = Section()
    async with (
        redis_scratch(url, "small") as small,
        redis_scratch(url, "large") as large,
    ):
        before = await used_memory(small)
        live: dict[int, list[str]] = {}
        for size, store in ((cfg.small, small), (cfg.large, large)):
            t0 = time.perf_counter()
            live[size] = await bulk_create(store, size, users=1000)
            section.notes.append(
                f"Redis: created {size:,} sessions through the store ({BULK_TASKS} concurrent "
                f"`create` calls) in {time.perf_counter() - t0:.1f} s."
            )
        grown = (await used_memory(small) - before) / 2**20
        section.notes.append(
            f"Redis: used_memory grew by {grown:,.0f} MiB for the {cfg.small + cfg.large:,} "
            "sessions (keys and indexes)."
        )
        backends = {cfg.small: SessionStoreBackend(small), cfg.large: SessionStoreBackend(large)}
        section.extend(await _sized_rounds(backends, live, cfg, "Redis", REDIS_CLEARED))
    return section


async def _sized_rounds(
    backends: dict[int, SessionStoreBackend],
    live: dict[int, list[str]],
    cfg: ScaleConfig,
    label: str,
    cleared: int,
) -> Section:
    """``load`` and clear-by-user at both sizes, alternating; clear-by-user clears a fresh user
    holding ``cleared`` sessions, so only the number of stored sessions differs."""
    counter = 0

    def load_case(size: int) -> Case:
        async def case(r: int) -> float:
            ids, b = live[size], backends[size]
            rnd = random.Random(r)
            return await sequential_us(lambda i: b.load(rnd.choice(ids)), cfg.ops)

        return case

    def clear_case(size: int) -> Case:
        async def case(r: int) -> float:
            nonlocal counter
            b, total = backends[size], 0.0
            for _ in range(CLEARS_PER_ROUND):
                counter += 1
                user = f"fresh-{counter}"
                for _ in range(cleared):
                    await b.create(
                        SessionRecord(new_session_id(), session_data(user), _now() + TTL)
                    )
                t0 = time.perf_counter()
                await b.clear_sessions_for_user(user)
                total += time.perf_counter() - t0
            return total / CLEARS_PER_ROUND * 1e6

        return case

    for b, ids in ((backends[s], live[s]) for s in backends):  # warm-up
        for sid in ids[:200]:
            await b.load(sid)
    res = await ab_rounds(
        {
            "load small": load_case(cfg.small),
            "load large": load_case(cfg.large),
            "clear small": clear_case(cfg.small),
            "clear large": clear_case(cfg.large),
        },
        cfg.rounds,
    )
    note = (
        "Redis: every stored session live (Redis drops an expired key itself), 1,000 users; "
        f"clear user: a fresh user's {cleared} sessions, among those."
        if label == "Redis"
        else f"A tenth of the stored sessions expired, 1,000 users; clear user: a fresh user's "
        f"{cleared} sessions, among those."
    )
    section = Section()
    section.tables.append(
        Table(
            f"Scale, {label}: µs per call at {cfg.small:,} and {cfg.large:,} stored sessions "
            f"(median of {cfg.rounds} rounds)",
            ["operation", f"{cfg.small:,}", f"{cfg.large:,}", "large / small"],
            [
                [
                    op,
                    fmt(median(res[f"{key} small"])),
                    fmt(median(res[f"{key} large"])),
                    fmt_ratio(paired_ratio(res[f"{key} large"], res[f"{key} small"])),
                ]
                for op, key in (
                    ("load (random live id)", "load"),
                    (f"clear user ({cleared} sessions)", "clear"),
                )
            ],
            note=note,
        )
    )
    section.targets += [
        Target(
            f"{label} load latency at {cfg.large:,} / at {cfg.small:,}",
            paired_ratio(res["load large"], res["load small"]),
            1.2,
        ),
        Target(
            f"{label} clear-by-user"
            + ("" if cleared == SQL_CLEARED else f" ({cleared} sessions)")
            + f" at {cfg.large:,} / at {cfg.small:,}",
            paired_ratio(res["clear large"], res["clear small"]),
            1.5,
        ),
    ]
    return section


SAMPLE_EVERY_S = 0.002


@dataclass
class _Samples:
    """Milliseconds: the reader's calls, and the sampler's lag and lag + call."""

    call: list[float]
    lag: list[float]
    total: list[float]


async def _reader(
    b: SessionStoreBackend, ids: list[str], samples: list[float], stop: asyncio.Event
) -> None:
    rnd = random.Random(7)
    while not stop.is_set():
        t0 = time.perf_counter()
        await b.load(rnd.choice(ids))
        samples.append((time.perf_counter() - t0) * 1e3)


async def _sampler(
    b: SessionStoreBackend, ids: list[str], out: _Samples, stop: asyncio.Event
) -> None:
    """A ``load`` every :data:`SAMPLE_EVERY_S`, timed from when it was due (loop lag included).

    A late wake-up is not skipped: the next sample stays due on the same schedule, so a stall
    of the event loop lands in the samples instead of being silently omitted.
    """
    rnd = random.Random(11)
    due = time.perf_counter()
    while not stop.is_set():
        due += SAMPLE_EVERY_S
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        started = time.perf_counter()
        await b.load(rnd.choice(ids))
        done = time.perf_counter()
        out.lag.append(max(0.0, started - due) * 1e3)
        out.total.append((done - due) * 1e3)
        due = max(due, done - SAMPLE_EVERY_S)  # at most one sample owed after a long call


async def _measure(b: SessionStoreBackend, ids: list[str], work: Awaitable[object]) -> _Samples:
    """The reader's and the sampler's figures while ``work`` (a cleanup, or a sleep) runs."""
    out = _Samples([], [], [])
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_reader(b, ids, out.call, stop)),
        asyncio.create_task(_sampler(b, ids, out, stop)),
    ]
    try:
        await work
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return out


async def _cleanup(kind: Kind, pg: str, workdir: Path, cfg: ScaleConfig, label: str) -> Section:
    idle: list[_Samples] = []
    busy: list[_Samples] = []
    took: list[float] = []
    deleted: list[int] = []
    for _ in range(cfg.rounds):
        async with scratch_database(kind, pg, workdir) as url:
            b = await SessionStoreBackend.connect(url)
            await b.migrate()
            live_n = 10_000
            ids = await bulk_load(kind, url, live_n)
            await bulk_load(kind, url, cfg.cleanup_rows, expired_fraction=1.0, user_prefix="old-")
            try:
                idle.append(await _measure(b, ids, asyncio.sleep(cfg.idle_seconds)))

                async def cleanup(b: SessionStoreBackend = b) -> None:
                    t0 = time.perf_counter()
                    deleted.append(await b.delete_expired())
                    took.append(time.perf_counter() - t0)

                busy.append(await _measure(b, ids, cleanup()))
            finally:
                await b.close()

    def p99(runs: list[_Samples], pick: Callable[[_Samples], list[float]]) -> list[float]:
        return [percentile(pick(s), 0.99) for s in runs]

    def row(name: str, pick: Callable[[_Samples], list[float]]) -> list[str]:
        return [
            name,
            f"{fmt(median(p99(idle, pick)), 2)} ms",
            f"{fmt(median(p99(busy, pick)), 2)} ms",
            fmt_ratio(paired_ratio(p99(busy, pick), p99(idle, pick))),
        ]

    section = Section()
    section.tables.append(
        Table(
            f"Cleanup, {label}: delete_expired over {cfg.cleanup_rows:,} expired rows "
            f"(10,000 live) with a reader and a sampler task (median of {cfg.rounds} rounds): "
            f"{int(median(deleted)):,} rows deleted in {median(took):.2f} s",
            ["p99 of", "idle", "during cleanup", "during / idle"],
            [
                row("sampler: due → load returned (the target)", lambda s: s.total),
                row("sampler: event-loop lag (due → started)", lambda s: s.lag),
                row("reader: the load call alone", lambda s: s.call),
            ],
            note=f"The sampler starts a load every {SAMPLE_EVERY_S * 1e3:g} ms on a fixed "
            "schedule and times it from when it was due, so event-loop stalls count.",
        )
    )
    section.targets.append(
        Target(
            f"{label} p99 latency during cleanup / idle (loop lag included)",
            paired_ratio(p99(busy, lambda s: s.total), p99(idle, lambda s: s.total)),
            3.0,
            detail="sampler task; reader's call-only p99: "
            + fmt_ratio(paired_ratio(p99(busy, lambda s: s.call), p99(idle, lambda s: s.call))),
        )
    )
    return section


def _rss(variant: str, url: str, cfg: ScaleConfig, wrk: str, label: str) -> Section:
    small: list[float] = []
    large: list[float] = []
    for _ in range(cfg.rounds):
        server = start_server(variant, url)
        try:
            proc = psutil.Process(server.proc.pid)
            done, flip = 0, 0
            for goal, sink in ((cfg.rss_small, small), (cfg.rss_large, large)):
                while done < goal:
                    # Alternate reads of the live session with writes that create new ones.
                    path, cookie = ("read", server.cookie) if flip % 2 == 0 else ("write", "")
                    flip += 1
                    res = run_wrk(wrk, f"{server.base}/{path}", cookie, 1)
                    done += res.requests
                sink.append(float(proc.memory_info().rss))
        finally:
            stop_server(server)
    section = Section()
    section.tables.append(
        Table(
            f"RSS, {label} (uvicorn process, median of {cfg.rounds} fresh servers)",
            ["after", "RSS"],
            [
                [f"≥{cfg.rss_small:,} requests", fmt_rss(median(small))],
                [f"≥{cfg.rss_large:,} requests", fmt_rss(median(large))],
            ],
            note="Requests alternate GET /read with the live session and GET /write without "
            "a cookie (a new session each), in 1 s wrk runs at 32 connections.",
        )
    )
    section.targets.append(
        Target(
            f"{label} RSS after {cfg.rss_large:,} / after {cfg.rss_small:,} requests",
            paired_ratio(large, small),
            1.1,
        )
    )
    return section


async def run_scale_bench(
    kinds: list[Kind],
    pg: str,
    workdir: Path,
    cfg: ScaleConfig,
    wrk: str | None,
    redis_url: str | None = None,
) -> Section:
    """Every part for each SQL kind; on Redis (``redis_url``), the sized rows alone."""
    section = Section()
    for kind in kinds:
        label = "PostgreSQL" if kind == "postgres" else "SQLite"
        section.extend(await _sized(kind, pg, workdir, cfg, label))
        section.extend(await _cleanup(kind, pg, workdir, cfg, label))
        if wrk is not None:
            async with scratch_database(kind, pg, workdir) as url:
                b = await SessionStoreBackend.connect(url)
                await b.migrate()
                await b.close()
                variant = "ours-pg" if kind == "postgres" else "ours-sqlite"
                section.extend(await asyncio.to_thread(_rss, variant, url, cfg, wrk, label))
    if redis_url is not None:
        section.extend(await _sized_redis(redis_url, cfg))
    return section
