"""Every environment variable the library reads, as data: its name, its default and its meaning
as a user reads them (``docs/configuration.md``'s table is printed from here:
``python -m session_service.settings.table``), and the parser that turns its text into
settings.

:meth:`SessionSettings.from_env` walks :data:`ENV_VARS` in order. A parser sees what the
variables before it gave (the deployment, the data directory, the cookie's ``Secure``...), so
a default that depends on another variable, and a rule about two of them, is written with the
later one; the order is also the order in which a bad value is reported.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SessionConfigError
from .cookie import (
    check_cookie_domain,
    check_cookie_name,
    check_cookie_path,
    check_cookie_prefix,
    check_partitioned,
    check_samesite,
    check_secure_for,
)
from .defaults import (
    CLUSTER_MIN_SECRET_LENGTH,
    DEFAULT_CLEANUP_INTERVAL_SECONDS,
    DEFAULT_DB_TIMEOUT_SECONDS,
    DEFAULT_LAST_SEEN_SECONDS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MEMORY_MAX_SESSIONS,
    DEFAULT_REDIS_KEY_PREFIX,
    DEFAULT_TTL_SECONDS,
    MAX_CLEANUP_INTERVAL_SECONDS,
    MAX_DB_TIMEOUT_SECONDS,
    MAX_LAST_SEEN_SECONDS,
    MAX_MAX_BYTES,
    MAX_MEMORY_MAX_SESSIONS,
    MAX_TTL_SECONDS,
)
from .key_file import load_or_create_secret
from .urls import mask_url, normalize_db_url
from .values import parse_bool, parse_cap, parse_int, parse_networks, parse_seconds, parse_tracking


@dataclass
class Reading:
    """What ``from_env`` has read so far: the settings' fields, and how it was called."""

    need_secret: bool = True
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def cluster(self) -> bool:
        return bool(self.values["deployment"] == "cluster")


#: ``parse(name, raw, reading)``: the fields of ``SessionSettings`` the variable sets; ``raw``
#: is its text as set (``""`` when unset), not stripped.
Parse = Callable[[str, str, Reading], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One variable: ``default`` and ``meaning`` are Markdown, as the docs' table shows them."""

    name: str
    default: str
    meaning: str
    parse: Parse = field(repr=False)


# -- where the sessions live -----------------------------------------------------------------


def _deployment(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    value = raw.strip().lower() or "standalone"
    if value not in ("standalone", "cluster"):
        raise SessionConfigError(f"{name} must be 'standalone' or 'cluster', not {value!r}")
    return {"deployment": "cluster" if value == "cluster" else "standalone"}


def _data_dir(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"data_dir": Path(raw.strip() or ".session-data").absolute()}


def _db_url(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    raw_url = raw.strip()
    if not raw_url:
        if reading.cluster:
            raise SessionConfigError(
                f"{name} must be set to a PostgreSQL or Redis URL when DEPLOYMENT=cluster"
            )
        raw_url = f"sqlite+aiosqlite:///{reading.values['data_dir'] / 'sessions.sqlite'}"
    kind, db_url = normalize_db_url(raw_url, variable=name)
    if reading.cluster and kind not in ("postgres", "redis"):
        why = {
            "sqlite": "a SQLite file cannot be shared by several machines",
            "memory": "memory:// lives inside one process, invisible to the others",
        }.get(kind, "")
        raise SessionConfigError(
            f"{name} must be a PostgreSQL or Redis URL when DEPLOYMENT=cluster: {why}"
        )
    return {"db_url": db_url, "store_kind": kind, "display_url": mask_url(db_url)}


# -- the signing keys ------------------------------------------------------------------------


def _secret_key(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    secret = raw.strip()
    if not secret and not reading.need_secret:
        secret = secrets.token_urlsafe(48)
    if reading.cluster:
        if not secret:
            raise SessionConfigError(
                f"{name} must be set when DEPLOYMENT=cluster, the same on every "
                "instance (generate one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        if len(secret) < CLUSTER_MIN_SECRET_LENGTH:
            raise SessionConfigError(
                f"{name} is too short for DEPLOYMENT=cluster: use at least "
                f"{CLUSTER_MIN_SECRET_LENGTH} random characters"
            )
    elif not secret:
        secret = load_or_create_secret(reading.values["data_dir"])
    return {"secret_key": secret}


def _fallbacks(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"secret_key_fallbacks": tuple(k.strip() for k in raw.split(",") if k.strip())}


# -- the cookie ------------------------------------------------------------------------------


def _samesite(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"cookie_samesite": check_samesite(raw)}


def _secure(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    secure = parse_bool(name, raw, reading.cluster)
    check_secure_for(reading.values["cookie_samesite"], secure)
    return {"cookie_secure": secure}


def _partitioned(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    partitioned = parse_bool(name, raw, False)
    check_partitioned(partitioned, reading.values["cookie_secure"])
    return {"cookie_partitioned": partitioned}


def _cookie_name(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"cookie_name": check_cookie_name(raw)}


def _cookie_path(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"cookie_path": check_cookie_path(raw)}


def _cookie_domain(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    domain = check_cookie_domain(raw)
    values = reading.values
    check_cookie_prefix(
        values["cookie_name"], values["cookie_secure"], domain, values["cookie_path"]
    )
    return {"cookie_domain": domain}


# -- numbers, flags and words, each on its own ----------------------------------------------


def _integer(field: str, default: int, *, minimum: int, maximum: int) -> Parse:
    def parse(name: str, raw: str, reading: Reading) -> dict[str, Any]:
        return {field: parse_int(name, raw, default, minimum=minimum, maximum=maximum)}

    return parse


def _seconds(field: str, default: float, *, minimum: float, maximum: float) -> Parse:
    def parse(name: str, raw: str, reading: Reading) -> dict[str, Any]:
        return {field: parse_seconds(name, raw, default, minimum=minimum, maximum=maximum)}

    return parse


def _flag(field: str, default: bool) -> Parse:
    def parse(name: str, raw: str, reading: Reading) -> dict[str, Any]:
        return {field: parse_bool(name, raw, default)}

    return parse


def _absolute_ttl(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    ttl = reading.values["ttl_seconds"]
    return {"absolute_ttl_seconds": parse_cap(name, raw, ttl, "SESSION_TTL_SECONDS")}


def _pooler(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    value = raw.strip().lower() or "none"
    if value not in ("none", "transaction"):
        raise SessionConfigError(f"{name} must be none or transaction, not {value!r}")
    return {"db_pooler": value}


def _redis_key_prefix(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    # Not stripped: a prefix may end in a space, and it names keys byte for byte.
    return {"redis_key_prefix": raw or DEFAULT_REDIS_KEY_PREFIX}


def _tracking(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"track_devices": parse_tracking(name, raw)}


def _proxies(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"trusted_proxies": parse_networks(name, raw)}


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar(
        "DEPLOYMENT",
        "`standalone`",
        "`standalone` or `cluster`; `cluster` requires a PostgreSQL or Redis URL and "
        "`SESSION_SECRET_KEY`",
        _deployment,
    ),
    EnvVar(
        "SESSION_DATA_DIR",
        "`./.session-data`",
        "home of the embedded default (SQLite file, generated key)",
        _data_dir,
    ),
    EnvVar(
        "SESSION_DB_URL",
        "SQLite file `sessions.sqlite` in `SESSION_DATA_DIR`",
        "`sqlite:///PATH`, `sqlite+aiosqlite:///PATH`, `postgres://…`, `postgresql://…`, "
        "`postgresql+asyncpg://…`, `redis://…`, `rediss://…` (TLS), `redis+sentinel://…`, "
        "`rediss+sentinel://…`, `memory://` or `memory://NAME` "
        "(see [Stores and deployment](stores.md))",
        _db_url,
    ),
    EnvVar(
        "SESSION_SECRET_KEY",
        "standalone: generated once, kept in `SESSION_DATA_DIR/secret_key` (mode 0600)",
        "signs the cookie",
        _secret_key,
    ),
    EnvVar(
        "SESSION_SECRET_KEY_FALLBACKS",
        "empty",
        "comma-separated older keys still accepted when verifying (key rotation)",
        _fallbacks,
    ),
    EnvVar(
        "SESSION_COOKIE_SAMESITE",
        "`strict`",
        "`strict`, `lax` or `none`; `lax` for OAuth/OIDC sign-in and links from other sites "
        "(see [Migrating](migrating.md#samesitestrict-by-default))",
        _samesite,
    ),
    EnvVar(
        "SESSION_COOKIE_SECURE",
        "`false` standalone, `true` cluster",
        "send the cookie over HTTPS only",
        _secure,
    ),
    EnvVar(
        "SESSION_COOKIE_PARTITIONED",
        "`false`",
        "`true` adds `Partitioned` (CHIPS, for a session inside a third-party iframe); "
        "requires `SESSION_COOKIE_SECURE=true`",
        _partitioned,
    ),
    EnvVar("SESSION_COOKIE_NAME", "`session_id`", "the cookie's name", _cookie_name),
    EnvVar("SESSION_COOKIE_PATH", "`/`", "the cookie's `Path`", _cookie_path),
    EnvVar(
        "SESSION_COOKIE_DOMAIN",
        "unset",
        "the cookie's `Domain` (unset: this host only)",
        _cookie_domain,
    ),
    EnvVar(
        "SESSION_TTL_SECONDS",
        "`1209600` (14 days)",
        "inactivity timeout; activity extends it",
        _integer("ttl_seconds", DEFAULT_TTL_SECONDS, minimum=1, maximum=MAX_TTL_SECONDS),
    ),
    EnvVar(
        "SESSION_ABSOLUTE_TTL_SECONDS",
        "`0` (off)",
        "a session ends this long after its creation or last login (`cycle_id`), however "
        "active; `0` or from `SESSION_TTL_SECONDS` to 10 years "
        "(see [Session lifetime](lifetime.md))",
        _absolute_ttl,
    ),
    EnvVar(
        "SESSION_CLEANUP_INTERVAL_SECONDS",
        "`3600`",
        "how often expired sessions are deleted in the background; `0` turns it off",
        _integer(
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
        _integer("max_bytes", DEFAULT_MAX_BYTES, minimum=256, maximum=MAX_MAX_BYTES),
    ),
    EnvVar(
        "SESSION_COOKIE_PERSISTENT",
        "`true`",
        "`false`: a browser-session cookie (no `Max-Age`/`Expires`); the server-side TTL "
        "still applies",
        _flag("cookie_persistent", True),
    ),
    EnvVar(
        "SESSION_ROLLING",
        "`true`",
        "`false`: the expiry is fixed when the session is created; reads and writes never "
        "move it. A login (`cycle_id`) starts a new lifetime",
        _flag("rolling", True),
    ),
    EnvVar(
        "SESSION_DB_TIMEOUT_SECONDS",
        "`5`",
        "the longest a request waits on the store, queueing included, before it gets a 503; "
        "also bounds each statement of the CLI and admin calls. 0.1 to 600, fractions allowed",
        _seconds(
            "db_timeout_seconds",
            DEFAULT_DB_TIMEOUT_SECONDS,
            minimum=0.1,
            maximum=MAX_DB_TIMEOUT_SECONDS,
        ),
    ),
    EnvVar(
        "SESSION_DB_POOLER",
        "`none`",
        "`transaction`: PostgreSQL is reached through a transaction pooler; skips detecting "
        "it (see [Behind a connection pooler](stores.md#behind-a-connection-pooler))",
        _pooler,
    ),
    EnvVar(
        "SESSION_REDIS_KEY_PREFIX",
        "`session:`",
        "Redis only: the namespace of every key the store writes; a `?key_prefix=` in the URL wins",
        _redis_key_prefix,
    ),
    EnvVar(
        "SESSION_MEMORY_MAX_SESSIONS",
        "`100000`",
        "`memory://` only: most sessions kept; when full (after purging expired ones) a new "
        "session is refused with a 503, a live one is never evicted",
        _integer(
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
        _tracking,
    ),
    EnvVar(
        "SESSION_TRUSTED_PROXIES",
        "empty",
        "comma-separated ips and CIDRs (`10.0.0.0/8, ::1`) of your reverse proxies: only "
        "their `X-Forwarded-For` is believed",
        _proxies,
    ),
    EnvVar(
        "SESSION_LAST_SEEN_SECONDS",
        "`300`",
        "with tracking on, `last_seen` is written at most once per this many seconds per session",
        _integer(
            "last_seen_seconds",
            DEFAULT_LAST_SEEN_SECONDS,
            minimum=1,
            maximum=MAX_LAST_SEEN_SECONDS,
        ),
    ),
)
