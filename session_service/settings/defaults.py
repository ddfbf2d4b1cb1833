"""The values a setting takes when its variable is unset, the bounds of the number settings,
and the types of the settings that are one of a few words."""

from __future__ import annotations

import ipaddress
from typing import Literal

Deployment = Literal["standalone", "cluster"]
SameSite = Literal["strict", "lax", "none"]
StoreKind = Literal["sqlite", "postgres", "redis", "memory"]
#: ``transaction``: PostgreSQL is reached through a transaction pooler (PgBouncer and the like).
DbPooler = Literal["none", "transaction"]
#: ``SESSION_TRACK_DEVICES``: ``off`` (false), ``on`` (true) or ``coarse`` (ip cut to /24 or /48).
DeviceTracking = Literal["off", "on", "coarse"]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_TTL_SECONDS = 14 * 24 * 3600
DEFAULT_MAX_BYTES = 64 * 1024
DEFAULT_CLEANUP_INTERVAL_SECONDS = 3600
DEFAULT_LAST_SEEN_SECONDS = 300
MAX_LAST_SEEN_SECONDS = 24 * 3600
#: ``SESSION_MAX_PER_USER``'s bound: a login reads the user's sessions in one tenant to apply it.
MAX_MAX_PER_USER = 100_000
DEFAULT_DB_TIMEOUT_SECONDS = 5.0
#: PostgreSQL: connections per process for requests (``SESSION_DB_POOL_SIZE``).
DEFAULT_DB_POOL_SIZE = 20
#: Upper bounds of the number settings: a larger value is a typo, and some (a TTL past the
#: year 9999) would make every request fail instead of the start-up.
MAX_TTL_SECONDS = 10 * 366 * 24 * 3600
MAX_CLEANUP_INTERVAL_SECONDS = 7 * 24 * 3600
MAX_MAX_BYTES = 64 * 1024 * 1024
MAX_DB_TIMEOUT_SECONDS = 600.0
MAX_DB_POOL_SIZE = 1000
DEFAULT_REDIS_KEY_PREFIX = "session:"
DEFAULT_MEMORY_MAX_SESSIONS = 100_000
MAX_MEMORY_MAX_SESSIONS = 100_000_000
#: The fraction of store calls timed (``SESSION_METRICS_SAMPLE``): one in twenty keeps the
#: histogram's quantiles filled at a few requests a second, at a fraction of a record()'s cost.
DEFAULT_METRICS_SAMPLE = 0.05
#: A key shorter than this is refused in cluster mode: it must be a real, generated secret.
CLUSTER_MIN_SECRET_LENGTH = 32
