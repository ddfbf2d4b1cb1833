"""The parsers of :data:`~session_service.settings.env.ENV_VARS`: one variable's raw text,
and what the variables before it gave (:class:`Reading`), to the fields of ``SessionSettings``
it sets, or a :class:`~session_service.errors.SessionConfigError` that names it.
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
from .defaults import CLUSTER_MIN_SECRET_LENGTH, DEFAULT_REDIS_KEY_PREFIX
from .encryption import parse_encryption_keys
from .key_file import load_or_create_secret
from .urls import mask_url, normalize_db_url
from .values import (
    parse_bool,
    parse_cap,
    parse_fraction,
    parse_int,
    parse_networks,
    parse_seconds,
    parse_tracking,
)


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


# -- where the sessions live -----------------------------------------------------------------


def deployment(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    value = raw.strip().lower() or "standalone"
    if value not in ("standalone", "cluster"):
        raise SessionConfigError(f"{name} must be 'standalone' or 'cluster', not {value!r}")
    return {"deployment": "cluster" if value == "cluster" else "standalone"}


def data_dir(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"data_dir": Path(raw.strip() or ".session-data").absolute()}


def db_url(name: str, raw: str, reading: Reading) -> dict[str, Any]:
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


def secret_key(name: str, raw: str, reading: Reading) -> dict[str, Any]:
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


def fallbacks(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"secret_key_fallbacks": tuple(k.strip() for k in raw.split(",") if k.strip())}


def encryption_keys(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"encryption_keys": parse_encryption_keys(name, raw)}


# -- the cookie ------------------------------------------------------------------------------


def samesite(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"cookie_samesite": check_samesite(raw)}


def secure(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    secure = parse_bool(name, raw, reading.cluster)
    check_secure_for(reading.values["cookie_samesite"], secure)
    return {"cookie_secure": secure}


def partitioned(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    partitioned = parse_bool(name, raw, False)
    check_partitioned(partitioned, reading.values["cookie_secure"])
    return {"cookie_partitioned": partitioned}


def cookie_name(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"cookie_name": check_cookie_name(raw)}


def cookie_path(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"cookie_path": check_cookie_path(raw)}


def cookie_domain(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    domain = check_cookie_domain(raw)
    values = reading.values
    check_cookie_prefix(
        values["cookie_name"], values["cookie_secure"], domain, values["cookie_path"]
    )
    return {"cookie_domain": domain}


# -- numbers, flags and words, each on its own ----------------------------------------------


def integer(field: str, default: int, *, minimum: int, maximum: int) -> Parse:
    def parse(name: str, raw: str, reading: Reading) -> dict[str, Any]:
        return {field: parse_int(name, raw, default, minimum=minimum, maximum=maximum)}

    return parse


def seconds(field: str, default: float, *, minimum: float, maximum: float) -> Parse:
    def parse(name: str, raw: str, reading: Reading) -> dict[str, Any]:
        return {field: parse_seconds(name, raw, default, minimum=minimum, maximum=maximum)}

    return parse


def fraction(field: str, default: float) -> Parse:
    def parse(name: str, raw: str, reading: Reading) -> dict[str, Any]:
        return {field: parse_fraction(name, raw, default)}

    return parse


def flag(field: str, default: bool) -> Parse:
    def parse(name: str, raw: str, reading: Reading) -> dict[str, Any]:
        return {field: parse_bool(name, raw, default)}

    return parse


def absolute_ttl(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    ttl = reading.values["ttl_seconds"]
    return {"absolute_ttl_seconds": parse_cap(name, raw, ttl, "SESSION_TTL_SECONDS")}


def pooler(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    value = raw.strip().lower() or "none"
    if value not in ("none", "transaction"):
        raise SessionConfigError(f"{name} must be none or transaction, not {value!r}")
    return {"db_pooler": value}


def redis_key_prefix(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    # Not stripped: a prefix may end in a space, and it names keys byte for byte.
    return {"redis_key_prefix": raw or DEFAULT_REDIS_KEY_PREFIX}


def tracking(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"track_devices": parse_tracking(name, raw)}


def proxies(name: str, raw: str, reading: Reading) -> dict[str, Any]:
    return {"trusted_proxies": parse_networks(name, raw)}
