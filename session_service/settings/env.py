"""Every environment variable the library reads, as data: its name, its default and its meaning
as a user reads them (``docs/configuration.md``'s table is printed from here:
``python -m session_service.settings.table``), and the parser that turns its text into
settings (:mod:`.parsers`).

:meth:`SessionSettings.from_env` walks :data:`ENV_VARS` in order. A parser sees what the
variables before it gave (the deployment, the data directory, the cookie's ``Secure``...), so
a default that depends on another variable, and a rule about two of them, is written with the
later one; the order is also the order in which a bad value is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .cache import cache_max_age, cache_max_entries, cache_mode, pg_direct_url
from .defaults import (
    DEFAULT_CLEANUP_INTERVAL_SECONDS,
    DEFAULT_DB_POOL_SIZE,
    DEFAULT_DB_TIMEOUT_SECONDS,
    DEFAULT_LAST_SEEN_SECONDS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MEMORY_MAX_SESSIONS,
    DEFAULT_METRICS_SAMPLE,
    DEFAULT_TTL_SECONDS,
    MAX_CLEANUP_INTERVAL_SECONDS,
    MAX_DB_POOL_SIZE,
    MAX_DB_TIMEOUT_SECONDS,
    MAX_LAST_SEEN_SECONDS,
    MAX_MAX_BYTES,
    MAX_MAX_PER_USER,
    MAX_MEMORY_MAX_SESSIONS,
    MAX_TTL_SECONDS,
)
from .parsers import (
    Parse,
    Reading,
    absolute_ttl,
    cookie_domain,
    cookie_name,
    cookie_path,
    data_dir,
    db_url,
    deployment,
    encryption_keys,
    fallbacks,
    flag,
    fraction,
    integer,
    partitioned,
    pooler,
    proxies,
    redis_key_prefix,
    samesite,
    seconds,
    secret_key,
    secure,
    tracking,
)

__all__ = ["ENV_VARS", "EnvVar", "Reading"]


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One variable: ``default`` and ``meaning`` are Markdown, as the docs' table shows them."""

    name: str
    default: str
    meaning: str
    parse: Parse = field(repr=False)


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar(
        "DEPLOYMENT",
        "`standalone`",
        "`standalone` or `cluster`; `cluster` requires a PostgreSQL or Redis URL and "
        "`SESSION_SECRET_KEY`",
        deployment,
    ),
    EnvVar(
        "SESSION_DATA_DIR",
        "`./.session-data`",
        "home of the embedded default (SQLite file, generated key)",
        data_dir,
    ),
    EnvVar(
        "SESSION_DB_URL",
        "SQLite file `sessions.sqlite` in `SESSION_DATA_DIR`",
        "`sqlite:///PATH`, `sqlite+aiosqlite:///PATH`, `postgres://…`, `postgresql://…`, "
        "`postgresql+asyncpg://…`, `redis://…`, `rediss://…` (TLS), `redis+sentinel://…`, "
        "`rediss+sentinel://…`, `redis+cluster://…`, `rediss+cluster://…`, `memory://` or "
        "`memory://NAME` "
        "(see [Stores and deployment](stores.md))",
        db_url,
    ),
    EnvVar(
        "SESSION_SECRET_KEY",
        "standalone: generated once, kept in `SESSION_DATA_DIR/secret_key` (mode 0600)",
        "signs the cookie",
        secret_key,
    ),
    EnvVar(
        "SESSION_SECRET_KEY_FALLBACKS",
        "empty",
        "comma-separated older keys still accepted when verifying (key rotation)",
        fallbacks,
    ),
    EnvVar(
        "SESSION_ENCRYPTION_KEYS",
        "empty (off)",
        "comma-separated `KEYID:BASE64KEY` (32-byte keys, AES-256-GCM; the `encryption` extra): "
        "session data is encrypted at rest, the first key encrypts, every listed key decrypts "
        "(see [Encryption at rest](security.md#encryption-at-rest))",
        encryption_keys,
    ),
    EnvVar(
        "SESSION_COOKIE_SAMESITE",
        "`strict`",
        "`strict`, `lax` or `none`; `lax` for OAuth/OIDC sign-in and links from other sites "
        "(see [Migrating](migrating.md#samesitestrict-by-default))",
        samesite,
    ),
    EnvVar(
        "SESSION_COOKIE_SECURE",
        "`false` standalone, `true` cluster",
        "send the cookie over HTTPS only",
        secure,
    ),
    EnvVar(
        "SESSION_COOKIE_PARTITIONED",
        "`false`",
        "`true` adds `Partitioned` (CHIPS, for a session inside a third-party iframe); "
        "requires `SESSION_COOKIE_SECURE=true`",
        partitioned,
    ),
    EnvVar("SESSION_COOKIE_NAME", "`session_id`", "the cookie's name", cookie_name),
    EnvVar("SESSION_COOKIE_PATH", "`/`", "the cookie's `Path`", cookie_path),
    EnvVar(
        "SESSION_COOKIE_DOMAIN",
        "unset",
        "the cookie's `Domain` (unset: this host only)",
        cookie_domain,
    ),
    EnvVar(
        "SESSION_TTL_SECONDS",
        "`1209600` (14 days)",
        "inactivity timeout; activity extends it",
        integer("ttl_seconds", DEFAULT_TTL_SECONDS, minimum=1, maximum=MAX_TTL_SECONDS),
    ),
    EnvVar(
        "SESSION_ABSOLUTE_TTL_SECONDS",
        "`0` (off)",
        "a session ends this long after its creation or last login (`cycle_id`), however "
        "active; `0` or from `SESSION_TTL_SECONDS` to 10 years "
        "(see [Session lifetime](lifetime.md))",
        absolute_ttl,
    ),
    EnvVar(
        "SESSION_CLEANUP_INTERVAL_SECONDS",
        "`3600`",
        "how often expired sessions are deleted in the background; `0` turns it off",
        integer(
            "cleanup_interval_seconds",
            DEFAULT_CLEANUP_INTERVAL_SECONDS,
            minimum=0,
            maximum=MAX_CLEANUP_INTERVAL_SECONDS,
        ),
    ),
    EnvVar(
        "SESSION_MAX_BYTES",
        "`65536`",
        "largest session accepted, as JSON; a larger one is refused with `SessionDataError` "
        "and nothing is written",
        integer("max_bytes", DEFAULT_MAX_BYTES, minimum=256, maximum=MAX_MAX_BYTES),
    ),
    EnvVar(
        "SESSION_COOKIE_PERSISTENT",
        "`true`",
        "`false`: a browser-session cookie (no `Max-Age`/`Expires`); the server-side TTL "
        "still applies",
        flag("cookie_persistent", True),
    ),
    EnvVar(
        "SESSION_ROLLING",
        "`true`",
        "`false`: the expiry is fixed when the session is created; reads and writes never "
        "move it. A login (`cycle_id`) starts a new lifetime",
        flag("rolling", True),
    ),
    EnvVar(
        "SESSION_DB_TIMEOUT_SECONDS",
        "`5`",
        "the longest a request waits on the store, queueing included, before it gets a 503; "
        "also bounds each statement of the CLI and admin calls. 0.1 to 600, fractions allowed",
        seconds(
            "db_timeout_seconds",
            DEFAULT_DB_TIMEOUT_SECONDS,
            minimum=0.1,
            maximum=MAX_DB_TIMEOUT_SECONDS,
        ),
    ),
    EnvVar(
        "SESSION_DB_POOL_SIZE",
        "`20`",
        "PostgreSQL only: the most connections one app process keeps for requests (each event "
        "loop its own pool); processes times this must stay under the server's "
        "`max_connections` or the pooler's limit. 1 to 1000",
        integer("db_pool_size", DEFAULT_DB_POOL_SIZE, minimum=1, maximum=MAX_DB_POOL_SIZE),
    ),
    EnvVar(
        "SESSION_DB_POOLER",
        "`none`",
        "`transaction`: PostgreSQL is reached through a transaction pooler; skips detecting "
        "it (see [Behind a connection pooler](stores.md#behind-a-connection-pooler))",
        pooler,
    ),
    EnvVar(
        "SESSION_REDIS_KEY_PREFIX",
        "`session:`",
        "Redis only: the namespace of every key the store writes; a `?key_prefix=` in the URL wins",
        redis_key_prefix,
    ),
    EnvVar(
        "SESSION_MEMORY_MAX_SESSIONS",
        "`100000`",
        "`memory://` only: most sessions kept; when full (after purging expired ones) a new "
        "session is refused with a 503, a live one is never evicted",
        integer(
            "memory_max_sessions",
            DEFAULT_MEMORY_MAX_SESSIONS,
            minimum=1,
            maximum=MAX_MEMORY_MAX_SESSIONS,
        ),
    ),
    EnvVar(
        "SESSION_TRACK_DEVICES",
        "`false`",
        "`false`, `true` or `coarse`: record each new session's client ip (`coarse`: cut to "
        "its /24 or /48), `User-Agent` and `last_seen` (see [Your devices](devices.md))",
        tracking,
    ),
    EnvVar(
        "SESSION_TRUSTED_PROXIES",
        "empty",
        "comma-separated ips and CIDRs (`10.0.0.0/8, ::1`) of your reverse proxies: only "
        "their `X-Forwarded-For` is believed",
        proxies,
    ),
    EnvVar(
        "SESSION_LAST_SEEN_SECONDS",
        "`300`",
        "with tracking on, `last_seen` is written at most once per this many seconds per session",
        integer(
            "last_seen_seconds",
            DEFAULT_LAST_SEEN_SECONDS,
            minimum=1,
            maximum=MAX_LAST_SEEN_SECONDS,
        ),
    ),
    EnvVar(
        "SESSION_MAX_PER_USER",
        "`0` (unlimited)",
        "most live sessions one user may have in one tenant, 0 to 100000: a login past it signs "
        "out the user's least recently used other sessions, never the one logging in (see "
        "[Sessions per user](security.md#sessions-per-user))",
        integer("max_per_user", 0, minimum=0, maximum=MAX_MAX_PER_USER),
    ),
    EnvVar(
        "SESSION_ROTATE_ON_USER_CHANGE",
        "`true`",
        'a request that sets, changes or removes `session["user_id"]` without `cycle_id()` '
        "gets a new session id anyway (data kept); `false`: the id stays",
        flag("rotate_on_user_change", True),
    ),
    EnvVar(
        "SESSION_CACHE",
        "`off`",
        "`local`: a read cache in each process, PostgreSQL and Redis only; a revocation "
        "reaches every process at once (see [A read cache in each process]"
        "(stores.md#a-read-cache-in-each-process))",
        cache_mode,
    ),
    EnvVar(
        "SESSION_CACHE_MAX_ENTRIES",
        "`50000`",
        "with the cache on: most sessions each process keeps (the oldest go first)",
        cache_max_entries,
    ),
    EnvVar(
        "SESSION_CACHE_MAX_AGE_SECONDS",
        "`2`",
        "with the cache on: the longest a process may serve a session without asking the "
        "store, so another process's writes show within it (revocations show at once). 0.1 "
        "to 60, fractions allowed",
        cache_max_age,
    ),
    EnvVar(
        "SESSION_PG_DIRECT_URL",
        "empty",
        "PostgreSQL behind a transaction pooler: a URL of the same database that bypasses "
        "it, for the cache's one `LISTEN` connection (required with `SESSION_CACHE=local` "
        "and `SESSION_DB_POOLER=transaction`)",
        pg_direct_url,
    ),
    EnvVar(
        "SESSION_METRICS",
        "`true`",
        "with the `otel` extra installed, count sessions and time store calls through the "
        "OpenTelemetry API (see [Metrics](operations.md#metrics)); `false`: no metrics at all",
        flag("metrics", True),
    ),
    EnvVar(
        "SESSION_METRICS_SAMPLE",
        "`0.05`",
        "the fraction of store calls, 0 to 1, whose duration is recorded in "
        "`db.client.operation.duration` (the counters count every call)",
        fraction("metrics_sample", DEFAULT_METRICS_SAMPLE),
    ),
)
