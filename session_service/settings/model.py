"""``SessionSettings``: the validated configuration every part of the library reads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import DEFAULT_CACHE_MAX_AGE_SECONDS, DEFAULT_CACHE_MAX_ENTRIES, CacheMode
from .defaults import (
    DEFAULT_CLEANUP_INTERVAL_SECONDS,
    DEFAULT_DB_POOL_SIZE,
    DEFAULT_DB_TIMEOUT_SECONDS,
    DEFAULT_LAST_SEEN_SECONDS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MEMORY_MAX_SESSIONS,
    DEFAULT_METRICS_SAMPLE,
    DEFAULT_REDIS_KEY_PREFIX,
    DEFAULT_TTL_SECONDS,
    DbPooler,
    Deployment,
    DeviceTracking,
    IpNetwork,
    SameSite,
    StoreKind,
)
from .encryption import EncryptionKeys
from .env import ENV_VARS, Reading


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Validated configuration. Secrets are kept out of ``repr`` and the URL is shown masked."""

    db_url: str = field(repr=False)
    store_kind: StoreKind
    data_dir: Path
    deployment: Deployment
    secret_key: str = field(repr=False)
    secret_key_fallbacks: tuple[str, ...] = field(default=(), repr=False)
    #: ``SESSION_ENCRYPTION_KEYS`` (``None``: session data is stored as plain JSON).
    encryption_keys: EncryptionKeys | None = field(default=None, repr=False)
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    cookie_name: str = "session_id"
    cookie_secure: bool = False
    cookie_samesite: SameSite = "strict"
    cookie_domain: str | None = None
    cookie_path: str = "/"
    cleanup_interval_seconds: int = DEFAULT_CLEANUP_INTERVAL_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES
    display_url: str = field(default="", compare=False)
    cookie_persistent: bool = True
    cookie_partitioned: bool = False
    rolling: bool = True
    #: The longest a request waits on the store (queueing included) before it gets a 503.
    db_timeout_seconds: float = DEFAULT_DB_TIMEOUT_SECONDS
    db_pooler: DbPooler = "none"
    #: PostgreSQL: the most connections one process's per-request pool opens (per event loop).
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    redis_key_prefix: str = DEFAULT_REDIS_KEY_PREFIX
    memory_max_sessions: int = DEFAULT_MEMORY_MAX_SESSIONS
    track_devices: DeviceTracking = "off"
    trusted_proxies: tuple[IpNetwork, ...] = ()
    last_seen_seconds: int = DEFAULT_LAST_SEEN_SECONDS
    #: ``SESSION_ABSOLUTE_TTL_SECONDS``: a session ends this long after its login (creation
    #: or last ``cycle_id``), however active; 0: no absolute limit.
    absolute_ttl_seconds: int = 0
    #: Most live sessions per user and tenant (0: unlimited); a login past it signs out the
    #: user's least recently used other sessions.
    max_per_user: int = 0
    #: A request that sets, changes or removes ``session["user_id"]`` gets a new session id.
    rotate_on_user_change: bool = True
    #: ``SESSION_CACHE``: ``local`` keeps a read cache in each process (PostgreSQL, Redis).
    cache: CacheMode = "off"
    cache_max_entries: int = DEFAULT_CACHE_MAX_ENTRIES
    cache_max_age_seconds: float = DEFAULT_CACHE_MAX_AGE_SECONDS
    #: ``SESSION_PG_DIRECT_URL``: PostgreSQL without the pooler, for the cache's ``LISTEN``.
    pg_direct_url: str = field(default="", repr=False)
    #: Count and time through the OpenTelemetry API when the ``otel`` extra is installed.
    metrics: bool = True
    #: The fraction of store calls whose duration is recorded (0 to 1).
    metrics_sample: float = DEFAULT_METRICS_SAMPLE

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, need_secret: bool = True
    ) -> SessionSettings:
        """Read and validate every ``SESSION_*`` variable and ``DEPLOYMENT`` (the table
        :data:`~session_service.settings.ENV_VARS`, in its order).

        ``environ=None`` reads :data:`os.environ`. In standalone mode without
        ``SESSION_SECRET_KEY`` this creates (once) ``SESSION_DATA_DIR/secret_key``.

        ``need_secret=False`` is for tools that never sign a cookie (the CLI, ``alembic``):
        when no key is set they get a throwaway one, so an admin command neither creates the
        key file as a side effect (perhaps in the wrong directory) nor needs the cluster's
        secret. A key that is set is still validated.
        """
        env: Mapping[str, str] = os.environ if environ is None else environ
        reading = Reading(need_secret=need_secret)
        for var in ENV_VARS:
            reading.values.update(var.parse(var.name, env.get(var.name, ""), reading))
        return cls(**reading.values)

    def store_options(self, kind: StoreKind) -> dict[str, Any]:
        """The settings a store of ``kind`` takes, as ``SessionStoreBackend.from_url`` options."""
        options: dict[str, Any] = {"max_bytes": self.max_bytes, "timeout": self.db_timeout_seconds}
        if kind == "postgres":
            options["pooler"] = self.db_pooler
            options["pool_size"] = self.db_pool_size
        elif kind == "redis":
            options["key_prefix"] = self.redis_key_prefix
        elif kind == "memory":
            options["max_sessions"] = self.memory_max_sessions
        return options
