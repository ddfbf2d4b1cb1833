"""Logins with ``SESSION_MAX_PER_USER=5`` vs unlimited, on every store benchmarked.

A login here is what the middleware does on ``cycle_id()``: a ``rotate`` of an anonymous
session to one that carries ``user_id``. Two scenarios, each a target: "within" (each user
logs in 5 times per round: every login pays the check, none signs anyone out) and "past" (10
times: the sixth and later logins of a user each sign the least recently used session out,
the store's locked check-and-delete). Limited and unlimited run on the same database,
alternating which goes first each round; the ratio is the time per login unlimited ÷ limited
(1.00x: the limit costs nothing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from ._common import (
    Kind,
    Section,
    Table,
    Target,
    fmt,
    fmt_ratio,
    median,
    paired_ratio,
    scratch_database,
)
from .redis_bench import delete_prefix, new_prefix, with_prefix

LIMIT = 5
#: Logins per user per round: within the limit, and past it.
SCENARIOS = {"within": 5, "past": 10}
_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL", "redis": "Redis", "memory": "memory"}


@dataclass
class LoginConfig:
    logins: int = 1000  # per case per round
    rounds: int = 3


def _record(data: dict[str, object]) -> SessionRecord:
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1))


async def _logins(
    backend: SessionStoreBackend, limit: int, n: int, tag: str, per_user: int = 10
) -> float:
    """µs per login over ``n`` sequential logins (anonymous sessions made first, untimed)."""
    backend.store.max_per_user = limit  # type: ignore[attr-defined]
    anonymous = [await backend.create(_record({"cart": i})) for i in range(n)]
    users = max(1, n // per_user)
    start = time.perf_counter()
    for i, anon in enumerate(anonymous):
        await backend.rotate(anon.id, _record({"user_id": f"{tag}-{i % users}", "cart": i}))
    return (time.perf_counter() - start) / n * 1e6


Pairs = dict[str, tuple[list[float], list[float]]]


async def _measure(url: str, cfg: LoginConfig) -> Pairs:
    backend = await SessionStoreBackend.connect(url)
    try:
        await backend.migrate()
        await _logins(backend, 0, 50, "warm")  # connections, statements, scripts
        await _logins(backend, LIMIT, 50, "warm-limited")
        pairs: Pairs = {name: ([], []) for name in SCENARIOS}
        for r in range(cfg.rounds):
            for name, per_user in SCENARIOS.items():
                free, limited = pairs[name]
                cases = [(0, free), (LIMIT, limited)]
                for limit, out in cases if r % 2 == 0 else reversed(cases):
                    tag = f"r{r}-{name}-{limit}"
                    out.append(await _logins(backend, limit, cfg.logins, tag, per_user))
    finally:
        await backend.close()
    return pairs


async def run_login_bench(
    kinds: list[Kind], pg_url: str, redis_url: str | None, workdir: Path, cfg: LoginConfig
) -> Section:
    """The login table and one target per store kind (memory always, Redis when given)."""
    section = Section()
    table = Table(
        f"Login (rotate to a user), SESSION_MAX_PER_USER={LIMIT} vs unlimited: µs per login, "
        f"sequential, {cfg.logins:,} logins per case (median of {cfg.rounds} rounds)",
        [
            "store",
            "logins per user",
            "unlimited µs/login",
            f"limit {LIMIT} µs/login",
            "unlimited ÷ limited",
        ],
    )
    measured: dict[str, Pairs] = {}
    for kind in kinds:
        async with scratch_database(kind, pg_url, workdir) as url:
            measured[kind] = await _measure(url, cfg)
    if redis_url is not None:
        prefix = new_prefix("login")
        try:
            measured["redis"] = await _measure(with_prefix(redis_url, prefix), cfg)
        finally:
            await delete_prefix(redis_url, prefix)
    measured["memory"] = await _measure(f"memory://bench_login_{new_prefix()[6:16]}", cfg)
    for store, pairs in measured.items():
        for name, (free, limited) in pairs.items():
            ratio = paired_ratio(free, limited)
            per_user = SCENARIOS[name]
            table.rows.append(
                [_LABELS[store], str(per_user), fmt(median(free)), fmt(median(limited)),
                 fmt_ratio(ratio)]
            )  # fmt: skip
            section.targets.append(
                Target(
                    f"{_LABELS[store]} login {name} the limit: SESSION_MAX_PER_USER={LIMIT} / "
                    "unlimited (speed)",
                    ratio,
                    0.9,
                    higher_is_better=True,
                    detail=f"{per_user} logins per user; time per login unlimited ÷ limited",
                )
            )
    table.note = (
        "A login is a rotate of an anonymous session to one with user_id (cycle_id()). With "
        f"the limit, a login whose user then has more than {LIMIT} sessions runs the store's "
        "atomic check-and-delete (SQL: one transaction, PostgreSQL under a per-user advisory "
        "lock; Redis: one script; memory: under its lock)."
    )
    section.tables.append(table)
    return section
