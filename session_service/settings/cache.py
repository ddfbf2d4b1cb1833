"""The settings of the read cache (``SESSION_CACHE`` and its bounds, ``SESSION_PG_DIRECT_URL``;
see [Stores and deployment](stores.md#a-read-cache-in-each-process)).

Their rules about other variables live here, with the later variable (see :mod:`.env`): the
cache needs a store every process shares and a channel that reaches every process, so it is
refused for SQLite and memory, and behind a transaction pooler unless PostgreSQL is also
reachable directly (a pooler cannot carry ``LISTEN``).
"""

from __future__ import annotations

from typing import Any, Literal

from ..errors import SessionConfigError
from .parsers import Reading
from .urls import CLUSTER_SCHEMES, normalize_db_url
from .values import parse_int, parse_seconds

#: ``SESSION_CACHE``: ``off`` (every read asks the store) or ``local`` (a cache in each process).
CacheMode = Literal["off", "local"]

DEFAULT_CACHE_MAX_ENTRIES = 50_000
MAX_CACHE_MAX_ENTRIES = 10_000_000
DEFAULT_CACHE_MAX_AGE_SECONDS = 2.0
MIN_CACHE_MAX_AGE_SECONDS, MAX_CACHE_MAX_AGE_SECONDS = 0.1, 60.0

#: The store kinds whose revocations can be pushed to every process.
CACHED_KINDS = ("postgres", "redis")


def check_cache_for(mode: str, kind: str, *, pooler: str = "none", direct_url: str = "") -> None:
    """Refuse ``SESSION_CACHE=local`` where no process could hear every revocation."""
    if mode != "local":
        return
    if kind not in CACHED_KINDS:
        why = {  # one reason per store kind without a channel
            "sqlite": "SQLite has no channel to tell other processes of a revocation, and a "
            "read from a local file is cheap already",
            "memory": "memory:// lives in one process and is a cache itself",
            "redis_cluster": "Redis Cluster's scripts do not publish revocations yet",
        }.get(kind, f"the {kind!r} store has no revocation channel")
        raise SessionConfigError(
            f"SESSION_CACHE=local needs PostgreSQL or Redis (one primary or Sentinel): {why}; "
            "unset SESSION_CACHE or set it to off"
        )
    if kind == "postgres" and pooler == "transaction" and not direct_url:
        raise SessionConfigError(
            "SESSION_CACHE=local behind a transaction pooler (SESSION_DB_POOLER=transaction) "
            "needs SESSION_PG_DIRECT_URL, a URL of the same database that bypasses the "
            "pooler: a pooler cannot carry LISTEN, so revocations would never be heard"
        )


def cache_mode(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    value = raw.strip().lower() or "off"
    if value not in ("off", "local"):
        raise SessionConfigError(f"{name} must be off or local, not {value!r}")
    return {"cache": value}


def cache_max_entries(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    value = parse_int(
        name, raw, DEFAULT_CACHE_MAX_ENTRIES, minimum=1, maximum=MAX_CACHE_MAX_ENTRIES
    )
    return {"cache_max_entries": value}


def cache_max_age(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    value = parse_seconds(
        name,
        raw,
        DEFAULT_CACHE_MAX_AGE_SECONDS,
        minimum=MIN_CACHE_MAX_AGE_SECONDS,
        maximum=MAX_CACHE_MAX_AGE_SECONDS,
    )
    return {"cache_max_age_seconds": value}


def pg_direct_url(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    """A PostgreSQL URL that bypasses the pooler (for ``LISTEN``); then the cache's rules."""
    values = reading.values
    url = raw.strip()
    if url:
        direct_kind, url = normalize_db_url(url, variable=name)
        if direct_kind != "postgres":
            raise SessionConfigError(f"{name} must be a PostgreSQL URL, not a {direct_kind} one")
    cluster = values["db_url"].partition(":")[0].lower() in CLUSTER_SCHEMES
    kind = "redis_cluster" if cluster else str(values["store_kind"])
    check_cache_for(values["cache"], kind, pooler=values["db_pooler"], direct_url=url)
    return {"pg_direct_url": url}
