"""Configuration from the environment: :class:`SessionSettings`.

Everything the library and the CLI need comes from here, through one function, so the app and
the admin tool always agree on the database and the deployment mode. Validation happens once,
at start-up, and fails with a :class:`SessionConfigError` that names the variable.

One module per job: :mod:`.env` is the table of every variable (name, default, meaning,
parser) that :meth:`SessionSettings.from_env` walks; :mod:`.urls` the database URL grammar and
masking; :mod:`.values` and :mod:`.cookie` the checks of one value; :mod:`.key_file` the
generated standalone key; :mod:`.table` prints the docs' table of the variables.
"""

from __future__ import annotations

from collections.abc import Mapping

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
    DbPooler,
    Deployment,
    DeviceTracking,
    IpNetwork,
    SameSite,
    StoreKind,
)
from .env import ENV_VARS, EnvVar
from .model import SessionSettings
from .urls import (
    CLUSTER_SCHEMES,
    DEFAULT_SENTINEL_PORT,
    SENTINEL_SCHEMES,
    mask_url,
    normalize_db_url,
    split_cluster_url,
    split_sentinel_url,
)
from .values import parse_bool

__all__ = [
    "CLUSTER_MIN_SECRET_LENGTH",
    "CLUSTER_SCHEMES",
    "DEFAULT_CLEANUP_INTERVAL_SECONDS",
    "DEFAULT_DB_TIMEOUT_SECONDS",
    "DEFAULT_LAST_SEEN_SECONDS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MEMORY_MAX_SESSIONS",
    "DEFAULT_REDIS_KEY_PREFIX",
    "DEFAULT_SENTINEL_PORT",
    "DEFAULT_TTL_SECONDS",
    "ENV_VARS",
    "MAX_CLEANUP_INTERVAL_SECONDS",
    "MAX_DB_TIMEOUT_SECONDS",
    "MAX_LAST_SEEN_SECONDS",
    "MAX_MAX_BYTES",
    "MAX_MEMORY_MAX_SESSIONS",
    "MAX_TTL_SECONDS",
    "SENTINEL_SCHEMES",
    "DbPooler",
    "Deployment",
    "DeviceTracking",
    "EnvVar",
    "IpNetwork",
    "SameSite",
    "SessionSettings",
    "StoreKind",
    "mask_url",
    "normalize_db_url",
    "split_cluster_url",
    "split_sentinel_url",
]


def _parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """``env[name]`` as true or false (``default`` when unset or blank), with the settings'
    spellings and error: how the Redis store reads its URL's ``allow_eviction`` option."""
    return parse_bool(name, env.get(name, ""), default)
