"""Encryption at rest (``SESSION_ENCRYPTION_KEYS``): what sealing costs a store call, and the
cipher itself, each as a ratio against the same work without encryption in the same run.

* Per store (SQLite, PostgreSQL, Redis, memory): ``load`` and ``save`` of a session of about
  1 KB (six values) on two stores over one database, one sealing and one not, sequential,
  in A/B rounds of alternating order; the ratio is sealed / plain µs per call (the targets
  are the issue's HTTP ones, 1/0.9 for a read and 1/0.85 for a write, which a store call,
  having no HTTP around it, meets with less room).
* The cipher alone: opening and sealing that session's data vs decoding and encoding it as
  JSON (what the plain path does anyway), µs per session.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id
from session_service.settings.encryption import parse_encryption_keys
from session_service.stores._cipher import DataCipher
from session_service.stores.base import SessionStoreBase

from ._common import (
    Kind,
    Section,
    Table,
    Target,
    ab_rounds,
    fmt,
    fmt_ratio,
    median,
    paired_ratio,
    scratch_database,
    sequential_us,
)

SESSIONS = 200


@dataclass(frozen=True)
class EncryptionConfig:
    ops: int = 2000  # calls per case per round
    rounds: int = 3


def _data(i: int) -> dict[str, Any]:
    """About 1 KB as JSON: a user, a cart, a CSRF token, flags, an OAuth token, a note."""
    return {
        "user_id": f"user-{i}",
        "cart": [{"sku": f"SKU-{n:05d}", "qty": n % 3 + 1, "price": 1999} for n in range(8)],
        "csrf": secrets.token_urlsafe(32),
        "flags": {"beta": True, "theme": "dark", "lang": "en-GB"},
        "oauth": {"access_token": secrets.token_urlsafe(96), "expires_in": 3600},
        "note": "x" * 200,
    }


def _cipher() -> DataCipher:
    keys = parse_encryption_keys("bench", "b1:" + base64.b64encode(os.urandom(32)).decode())
    assert keys is not None
    return DataCipher(keys)


async def _store_case(url: str, cfg: EncryptionConfig, **options: Any) -> dict[str, list[float]]:
    plain = SessionStoreBackend.from_url(url, **options)
    sealed = SessionStoreBackend.from_url(url, **options)
    assert isinstance(sealed.store, SessionStoreBase)
    sealed.store.cipher = _cipher()
    try:
        await plain.migrate()
        expiry = datetime.now(UTC) + timedelta(days=1)
        records = {
            name: [SessionRecord(new_session_id(), _data(i), expiry) for i in range(SESSIONS)]
            for name in ("plain", "sealed")
        }
        for name, backend in (("plain", plain), ("sealed", sealed)):
            for record in records[name]:
                await backend.save(record)

        def load(backend: SessionStoreBackend, name: str) -> Callable[[int], Awaitable[object]]:
            ids = [r.id for r in records[name]]
            return lambda i: backend.load(ids[i % SESSIONS])

        def save(backend: SessionStoreBackend, name: str) -> Callable[[int], Awaitable[object]]:
            rows = records[name]
            return lambda i: backend.save(rows[i % SESSIONS])

        cases = {
            f"{op} {name}": make(backend, name)
            for op, make in (("load", load), ("save", save))
            for name, backend in (("plain", plain), ("sealed", sealed))
        }

        def timed(op: Callable[[int], Awaitable[object]]) -> Callable[[int], Awaitable[float]]:
            return lambda r: sequential_us(op, cfg.ops, r * cfg.ops)

        return await ab_rounds({name: timed(op) for name, op in cases.items()}, cfg.rounds)
    finally:
        await plain.close()
        await sealed.close()


def _cipher_case(cfg: EncryptionConfig) -> dict[str, list[float]]:
    cipher = _cipher()
    data = _data(0)
    sid = new_session_id()
    stored = json.dumps(cipher.seal(sid, data), ensure_ascii=False, separators=(",", ":"))
    plain = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    expiry = datetime.now(UTC)

    def timed(work: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        for _ in range(cfg.ops):
            work()
        return (time.perf_counter() - t0) / cfg.ops * 1e6

    def open_sealed() -> object:
        return cipher.open(SessionRecord(sid, json.loads(stored), expiry), sid)

    cases: dict[str, Callable[[], object]] = {
        "decode plain": lambda: json.loads(plain),
        "decode+open": open_sealed,
        "encode plain": lambda: json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        "seal+encode": lambda: json.dumps(cipher.seal(sid, data), separators=(",", ":")),
    }
    out: dict[str, list[float]] = {name: [] for name in cases}
    for r in range(cfg.rounds):
        for name in cases if r % 2 == 0 else reversed(list(cases)):
            out[name].append(timed(cases[name]))
    return out


async def run_encryption_bench(
    kinds: list[Kind],
    pg_url: str,
    redis_url: str | None,
    workdir: Path,
    cfg: EncryptionConfig,
) -> Section:
    section = Section()
    table = Table(
        "Encryption at rest: a ~1 KB session, sealed vs plain, same store (sequential µs)",
        ["store", "load plain", "load sealed", "load ratio", "save plain", "save sealed",
         "save ratio"],
    )  # fmt: skip
    runs: list[tuple[str, dict[str, list[float]]]] = []
    for kind in kinds:
        async with scratch_database(kind, pg_url, workdir) as url:
            runs.append((kind, await _store_case(url, cfg)))
    if redis_url:
        prefix = f"bench_{secrets.token_hex(4)}:"
        try:
            runs.append(("redis", await _store_case(redis_url, cfg, key_prefix=prefix)))
        finally:
            import redis.asyncio

            client = redis.asyncio.from_url(redis_url)
            async for key in client.scan_iter(match=prefix + "*", count=1000):
                await client.delete(key)
            await client.aclose()
    runs.append(("memory", await _store_case(f"memory://bench_{secrets.token_hex(4)}", cfg)))
    for name, seen in runs:
        load_ratio = paired_ratio(seen["load sealed"], seen["load plain"])
        save_ratio = paired_ratio(seen["save sealed"], seen["save plain"])
        table.rows.append(
            [name]
            + [fmt(median(seen[c])) for c in ("load plain", "load sealed")]
            + [fmt_ratio(load_ratio)]
            + [fmt(median(seen[c])) for c in ("save plain", "save sealed")]
            + [fmt_ratio(save_ratio)]
        )
        section.targets.append(Target(f"{name}: load sealed vs plain (µs)", load_ratio, 1 / 0.9))
        section.targets.append(Target(f"{name}: save sealed vs plain (µs)", save_ratio, 1 / 0.85))
    section.tables.append(table)
    alone = _cipher_case(cfg)
    section.tables.append(
        Table(
            "The cipher alone, that session's data (µs per session, six values)",
            ["decode plain", "decode+open", "encode plain", "seal+encode"],
            [[fmt(median(alone[c]), 2) for c in alone]],
        )
    )
    section.notes.append(
        "Encryption rows: AES-256-GCM per top-level value (cryptography's AESGCM), the store "
        "and the cipher measured on a machine shared with other work; ratios are medians of "
        "per-round ratios, rounds in alternating order."
    )
    return section
