"""Configuration from the environment: :class:`SessionSettings`.

Everything the library and the CLI need comes from here, through one function, so the app and
the admin tool always agree on the database and the deployment mode. Validation happens once,
at start-up, and fails with a :class:`SessionConfigError` that names the variable.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import SessionConfigError

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
DEFAULT_DB_TIMEOUT_SECONDS = 5.0
#: Upper bounds of the number settings: a larger value is a typo, and some (a TTL past the
#: year 9999) would make every request fail instead of the start-up.
MAX_TTL_SECONDS = 10 * 366 * 24 * 3600
MAX_CLEANUP_INTERVAL_SECONDS = 7 * 24 * 3600
MAX_MAX_BYTES = 64 * 1024 * 1024
MAX_DB_TIMEOUT_SECONDS = 600.0
DEFAULT_REDIS_KEY_PREFIX = "session:"
DEFAULT_SENTINEL_PORT = 26379
#: ``redis+sentinel://`` (and ``rediss+sentinel://``, TLS to the primary): the primary is found
#: through Sentinel. See :func:`split_sentinel_url`.
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
_REDIS_SCHEMES = ("redis", "rediss", *SENTINEL_SCHEMES)
DEFAULT_MEMORY_MAX_SESSIONS = 100_000
MAX_MEMORY_MAX_SESSIONS = 100_000_000
#: A key shorter than this is refused in cluster mode: it must be a real, generated secret.
CLUSTER_MIN_SECRET_LENGTH = 32
_SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def normalize_db_url(raw: str, *, variable: str = "SESSION_DB_URL") -> tuple[StoreKind, str]:
    """Map a user-facing database URL onto the async driver the store uses.

    ``sqlite:///`` becomes aiosqlite, ``postgres://`` and ``postgresql://`` become asyncpg, so
    users can paste the URL their hosting platform gives them. Returns the store kind and the
    normalized URL (with its password, which callers must not print: see :func:`mask_url`).
    """
    scheme = raw.strip().partition(":")[0].lower()
    if scheme in _REDIS_SCHEMES:
        _check_redis_extra(variable)
        return "redis", _check_redis_url(raw.strip(), variable)
    if scheme == "memory":
        return "memory", _check_memory_url(raw.strip(), variable)
    try:
        url = make_url(raw.strip())
        # A port that is not a number, or not a port, fails here, not at the first request.
        if url.port is not None and not 0 < url.port < 65536:
            raise ValueError("port out of range")
    except (ArgumentError, ValueError, TypeError):
        raise SessionConfigError(
            f"{variable} is not a valid database URL ({mask_url(raw)}); expected "
            "sqlite:///PATH or postgresql://user:password@host/db (percent-encode characters "
            "such as @ : / ? # % in the password)"
        ) from None
    driver = url.drivername
    if "@" in (url.host or "") or "@" in (url.username or ""):
        raise _unencoded_at(raw, variable)
    if driver in ("sqlite", "sqlite+aiosqlite"):
        if not url.database or url.database == ":memory:":
            raise SessionConfigError(
                f"{variable} must name a SQLite file (sqlite:///PATH); an in-memory database "
                "would not be shared between connections"
            )
        return "sqlite", url.set(drivername="sqlite+aiosqlite").render_as_string(False)
    if driver in ("postgres", "postgresql", "postgresql+asyncpg"):
        if not url.host and not url.query.get("host"):
            url = url.set(host="127.0.0.1")
        return "postgres", url.set(drivername="postgresql+asyncpg").render_as_string(False)
    raise SessionConfigError(
        f"{variable} has an unsupported scheme {driver!r}; use sqlite:///PATH, "
        "postgres://…, postgresql://…, postgresql+asyncpg://…, redis://…, rediss://…, "
        "redis+sentinel://… or memory://"
    )


def _check_redis_url(raw: str, variable: str) -> str:
    """A ``redis://``/``rediss://`` URL as given, once its database number is known to parse
    (a ``redis+sentinel://`` one once :func:`split_sentinel_url` parses it).

    ``?key_prefix=`` may name the namespace of every key the store writes; it belongs to the
    URL, so one URL always means one set of sessions (a second service on it sees the same).
    """
    if "\x00" in raw:
        raise SessionConfigError(f"{variable} cannot contain NUL characters")
    parts = urlsplit(raw)
    past_netloc = raw.partition("://")[2][len(parts.netloc) :]
    if "@" in parts.netloc.rpartition("@")[0] or "@" in past_netloc:
        raise _unencoded_at(raw, variable)
    _check_redis_options(parts.scheme.lower(), parts.query, variable)
    if parts.scheme.lower() in SENTINEL_SCHEMES:
        split_sentinel_url(raw, variable=variable)
        return raw
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise SessionConfigError(f"{variable} has an invalid port") from None
    db = parts.path.lstrip("/")
    if db and not db.isdigit():
        raise SessionConfigError(
            f"{variable} must name a Redis database by number (redis://host:6379/0), not {db!r}"
        )
    return raw


def _unencoded_at(raw: str, variable: str) -> SessionConfigError:
    """The error for a user name or password holding an ``@`` (or a ``/ ? #`` before one):
    where the password ends cannot be told, and half of it would become the host name."""
    return SessionConfigError(
        f"{variable} has an '@' that does not end its user name and password "
        f"({mask_url(raw)}): write @ in a password, user name or option as %40 (and : / ? # % "
        "in a password as %3A %2F %3F %23 %25)"
    )


def _check_redis_extra(variable: str) -> None:
    """A Redis URL needs the ``redis`` extra: say so at start-up, not as an import error at
    the first request (or an "unexpected error" in the CLI)."""
    if importlib.util.find_spec("redis") is None:
        raise SessionConfigError(
            f"{variable} names a Redis store, but the redis package is not installed: "
            "pip install 'session-service[redis]'"
        )


#: The query options of a Redis URL the store honours: its own (``key_prefix``,
#: ``allow_eviction``), and the connection options redis-py applies without changing what the
#: server's replies look like. Anything else (``decode_responses``, ``protocol``,
#: ``encoding``…) would hand the store replies it cannot read, or be ignored silently;
#: ``retry_on_timeout`` contradicts the store's rule that a command is never retried.
_REDIS_OPTIONS = frozenset({
    "key_prefix", "allow_eviction", "db", "username", "password", "client_name", "timeout",
    "max_connections", "socket_timeout", "socket_connect_timeout", "socket_keepalive",
    "socket_read_size", "health_check_interval",
})  # fmt: skip
#: Only with TLS (``rediss://``, ``rediss+sentinel://``).
_REDIS_TLS_OPTIONS = frozenset({
    "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path", "ssl_ca_data", "ssl_certfile",
    "ssl_keyfile", "ssl_password", "ssl_check_hostname", "ssl_min_version",
    "ssl_include_verify_flags", "ssl_exclude_verify_flags",
})  # fmt: skip


def _check_redis_options(scheme: str, query: str, variable: str) -> None:
    """Refuse a Redis URL option the store cannot honour, naming it (see ``_REDIS_OPTIONS``)."""
    allowed = _REDIS_OPTIONS
    if scheme.startswith("rediss"):
        allowed |= _REDIS_TLS_OPTIONS
    if scheme in SENTINEL_SCHEMES:
        allowed |= {"sentinel_password"}
    for name, _ in parse_qsl(query, keep_blank_values=True):
        if name not in allowed:
            shown = name if name.isprintable() else repr(name)
            where = (
                " without rediss:// (TLS)"
                if name in _REDIS_TLS_OPTIONS
                else " without redis+sentinel://"
                if name == "sentinel_password"
                else ""
            )
            raise SessionConfigError(
                f"{variable} has the option {shown}=, which the Redis session store cannot "
                f"honour{where}; remove it (options it honours: {', '.join(sorted(allowed))})"
            )


def split_sentinel_url(
    url: str, *, variable: str = "the database URL"
) -> tuple[tuple[tuple[str, int], ...], str, int]:
    """(the Sentinels' addresses, the service name, the database number) of a
    ``redis+sentinel://[user:password@]host1[:26379][,host2…]/SERVICE[/DB][?…]`` URL.

    The one parser of the form, used by the settings (to refuse a bad URL at start-up) and by
    the Redis store (to connect). The userinfo and the query belong to the primary, as in a
    ``redis://`` URL; the Sentinels are asked without a password unless
    ``?sentinel_password=`` gives theirs.
    """
    usage = f"{variable} must be redis+sentinel://[:password@]host:26379[,host:26379…]/SERVICE[/DB]"
    parts = urlsplit(url)
    sentinels = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        try:
            address = urlsplit("//" + item.strip())
            host, port = address.hostname, address.port
        except ValueError:
            raise SessionConfigError(f"{usage}: {item.strip()!r} has an invalid port") from None
        if not host:
            raise SessionConfigError(f"{usage}: a Sentinel address is empty")
        sentinels.append((host, port or DEFAULT_SENTINEL_PORT))
    service, _, db = parts.path.lstrip("/").partition("/")
    service, db = unquote(service), db.rstrip("/")
    if not service:
        raise SessionConfigError(f"{usage}: the URL names no service (the Sentinels' master name)")
    if db and not db.isdigit():
        raise SessionConfigError(f"{usage}: the database must be a number, not {db!r}")
    return tuple(sentinels), service, int(db or 0)


def _check_memory_url(raw: str, variable: str) -> str:
    """``memory://`` or ``memory://NAME``: stores of one process with one URL share data."""
    name = raw.partition("://")[2]
    if not raw.lower().startswith("memory://") or "/" in name or "?" in name:
        raise SessionConfigError(
            f"{variable} must be memory:// or memory://NAME (letters, digits, '_', '-', '.')"
        )
    return "memory://" + name


#: A query parameter whose name matches carries a credential (``password``, ``sslpassword``,
#: ``sslkey``, ``passfile``, ``token``, ``secret``…; redis-py reads ``?password=`` too).
_SECRET_PARAM = re.compile(r"pass|secret|token|auth|cred|key(?!_prefix)", re.IGNORECASE)
_MASK = "***"


def _secret_param(name: str) -> bool:
    return _SECRET_PARAM.search(name) is not None


def mask_url(url: str | URL) -> str:
    """The URL as it may appear anywhere a person sees it (logs, errors, reprs, CLI output).

    The one masking function of the package: the userinfo password and every query parameter
    whose name suggests a credential are replaced by ``***``. A URL that does not parse is
    masked textually (everything before the last ``@`` of its authority, and the same query
    parameters), so even the error about a malformed URL cannot leak its password.
    """
    text = str(url) if isinstance(url, str) else url.render_as_string(hide_password=True)
    if text.partition(":")[0].lower() in (*_REDIS_SCHEMES, "memory"):
        return _mask_plain_url(text)
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
        if "@" in (parsed.host or "") or "@" in (parsed.username or ""):
            return _mask_text(text)  # an unencoded "@": where the password ends is unknown
        hidden = {k: _MASK for k in parsed.query if _secret_param(k)}
        if hidden:
            parsed = parsed.set(query={**parsed.query, **hidden})
        return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", _MASK)
    except (ArgumentError, ValueError, TypeError):
        return _mask_text(str(url))


def _mask_text(raw: str) -> str:
    scheme, sep, rest = raw.strip().partition("://")
    if not sep:
        return "<invalid database URL>"
    if "@" in rest:
        rest = f"{_MASK}@{rest.rsplit('@', 1)[1]}"
    rest = re.sub(
        r"([?&;]([^=&;#]*)=)([^&;#]*)",
        lambda m: m.group(1) + (_MASK if _secret_param(m.group(2)) else m.group(3)),
        rest,
    )
    return f"{scheme}://{rest}"


def _mask_plain_url(text: str) -> str:
    """``scheme://user:***@host/…?password=***``: the password and credential parameters hidden."""
    try:
        parts = urlsplit(text)
        netloc = parts.netloc
        if "@" in text.partition("://")[2][len(netloc) :]:
            # An "@" past the authority: a password holding "/", "?" or "#" cut it short.
            return _mask_text(text)
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user, has_password, _ = userinfo.partition(":")
            # A user name alone (redis://PASSWORD@host is a common mistake) is hidden too.
            shown = has_password and "@" not in user
            netloc = f"{user}:***@{host}" if shown else f"***@{host}"
        query = "&".join(
            f"{name}={_MASK}" if _secret_param(name) else f"{name}={value}"
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "<invalid database URL>"


def _cookie_attribute_ok(value: str) -> bool:
    """Printable ASCII without the characters that end a cookie attribute."""
    return value.isascii() and value.isprintable() and not any(c in value for c in ";, ")


def _check_cookie_prefix(name: str, secure: bool, domain: str | None, path: str) -> None:
    """Refuse a ``__Secure-``/``__Host-`` cookie name with settings browsers reject it under.

    Browsers drop (case-insensitively by prefix) a ``__Secure-`` cookie that is not Secure, and
    a ``__Host-`` cookie that is not Secure, has a Domain, or a Path other than ``/``: with
    such settings no login would ever stick, so it is refused at start-up instead.
    """
    prefix = name[: len("__secure-")].lower()
    if prefix.startswith("__host-"):
        start, rule = name[: len("__host-")], "it is Secure, has no Domain and has Path=/"
        needs = [
            ("SESSION_COOKIE_SECURE=true", not secure),
            ("no SESSION_COOKIE_DOMAIN", domain is not None),
            ("SESSION_COOKIE_PATH=/", path != "/"),
        ]
    elif prefix == "__secure-":
        start, rule = name[: len("__secure-")], "it is Secure"
        needs = [("SESSION_COOKIE_SECURE=true", not secure)]
    else:
        return
    wrong = [need for need, missing in needs if missing]
    if wrong:
        raise SessionConfigError(
            f"SESSION_COOKIE_NAME {name!r} starts with {start!r}: browsers drop such a cookie "
            f"unless {rule}, so it needs {' and '.join(wrong)} (or a name without the prefix)"
        )


def _parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SessionConfigError(f"{name} must be true or false, not {raw!r}")


def _parse_int(
    env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SessionConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SessionConfigError(f"{name} must be at least {minimum}, not {value}")
    if value > maximum:
        raise SessionConfigError(f"{name} must be at most {maximum}, not {value}")
    return value


def _parse_absolute_ttl(env: Mapping[str, str], ttl: int) -> int:
    """``SESSION_ABSOLUTE_TTL_SECONDS``: 0 (off), or from the idle TTL up to 10 years (a
    shorter absolute limit would make the idle one meaningless, a typo more likely)."""
    name = "SESSION_ABSOLUTE_TTL_SECONDS"
    value = _parse_int(env, name, 0, minimum=0, maximum=MAX_TTL_SECONDS)
    if 0 < value < ttl:
        raise SessionConfigError(
            f"{name} must be 0 (off) or at least SESSION_TTL_SECONDS ({ttl}), not {value}"
        )
    return value


def _parse_seconds(
    env: Mapping[str, str], name: str, default: float, *, minimum: float, maximum: float
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SessionConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not minimum <= value <= maximum:  # also refuses nan and inf
        raise SessionConfigError(
            f"{name} must be between {minimum:g} and {maximum:g} seconds, not {raw!r}"
        )
    return value


def _parse_pooler(env: Mapping[str, str]) -> DbPooler:
    raw = env.get("SESSION_DB_POOLER", "").strip().lower() or "none"
    if raw not in ("none", "transaction"):
        raise SessionConfigError(f"SESSION_DB_POOLER must be none or transaction, not {raw!r}")
    return "transaction" if raw == "transaction" else "none"


def _parse_tracking(env: Mapping[str, str]) -> DeviceTracking:
    raw = env.get("SESSION_TRACK_DEVICES", "").strip().lower()
    if raw == "coarse":
        return "coarse"
    if not raw or raw in _FALSE:
        return "off"
    if raw in _TRUE:
        return "on"
    raise SessionConfigError(f"SESSION_TRACK_DEVICES must be false, true or coarse, not {raw!r}")


def _parse_networks(env: Mapping[str, str], name: str) -> tuple[IpNetwork, ...]:
    """Comma-separated ips and CIDRs (``10.0.0.1, 10.1.0.0/16, ::1``) as networks."""
    networks = []
    for item in env.get(name, "").split(","):
        if not item.strip():
            continue
        try:
            # strict=False: "10.1.2.3/16" means the network 10.1.0.0/16, as in nginx.
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise SessionConfigError(
                f"{name} must be comma-separated ip addresses or CIDR networks "
                f"(e.g. 10.0.0.0/8, ::1), not {item.strip()!r}"
            ) from None
    return tuple(networks)


def _load_or_create_secret(data_dir: Path) -> str:
    """The standalone key: generated once with :mod:`secrets`, kept at mode 0600, reused.

    Written to a temporary file and hard-linked into place, so two processes starting at once
    agree on one key and neither can read a half-written file.
    """
    path = data_dir / _SECRET_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    except OSError as exc:
        raise SessionConfigError(
            f"SESSION_SECRET_KEY is unset and the generated key at {path} cannot be read "
            f"({exc.strerror}); set SESSION_SECRET_KEY, or point SESSION_DATA_DIR at a "
            "readable directory"
        ) from None
    if existing:
        return existing
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # private: keys, sessions
        tmp = data_dir / f".{_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        key = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise SessionConfigError(
            f"SESSION_DATA_DIR {str(data_dir)!r} is not writable ({exc.strerror}); "
            "set SESSION_DATA_DIR to a writable directory or set SESSION_SECRET_KEY"
        ) from None
    if not key:
        # Never sign with an empty key: anyone could forge a cookie.
        raise SessionConfigError(
            f"SESSION_SECRET_KEY is unset and the key file {path} is empty; delete the file "
            "to have a new key generated, or set SESSION_SECRET_KEY"
        )
    return key


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Validated configuration. Secrets are kept out of ``repr`` and the URL is shown masked."""

    db_url: str = field(repr=False)
    store_kind: StoreKind
    data_dir: Path
    deployment: Deployment
    secret_key: str = field(repr=False)
    secret_key_fallbacks: tuple[str, ...] = field(default=(), repr=False)
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
    redis_key_prefix: str = DEFAULT_REDIS_KEY_PREFIX
    memory_max_sessions: int = DEFAULT_MEMORY_MAX_SESSIONS
    track_devices: DeviceTracking = "off"
    trusted_proxies: tuple[IpNetwork, ...] = ()
    last_seen_seconds: int = DEFAULT_LAST_SEEN_SECONDS
    #: ``SESSION_ABSOLUTE_TTL_SECONDS``: a session ends this long after its login (creation
    #: or last ``cycle_id``), however active; 0: no absolute limit.
    absolute_ttl_seconds: int = 0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, need_secret: bool = True
    ) -> SessionSettings:
        """Read and validate every ``SESSION_*`` variable and ``DEPLOYMENT``.

        ``environ=None`` reads :data:`os.environ`. In standalone mode without
        ``SESSION_SECRET_KEY`` this creates (once) ``SESSION_DATA_DIR/secret_key``.

        ``need_secret=False`` is for tools that never sign a cookie (the CLI, ``alembic``):
        when no key is set they get a throwaway one, so an admin command neither creates the
        key file as a side effect (perhaps in the wrong directory) nor needs the cluster's
        secret. A key that is set is still validated.
        """
        env: Mapping[str, str] = os.environ if environ is None else environ
        deployment_raw = env.get("DEPLOYMENT", "").strip().lower() or "standalone"
        if deployment_raw not in ("standalone", "cluster"):
            raise SessionConfigError(
                f"DEPLOYMENT must be 'standalone' or 'cluster', not {deployment_raw!r}"
            )
        deployment: Deployment = "cluster" if deployment_raw == "cluster" else "standalone"
        cluster = deployment == "cluster"
        data_dir = Path(env.get("SESSION_DATA_DIR", "").strip() or ".session-data").absolute()

        raw_url = env.get("SESSION_DB_URL", "").strip()
        if not raw_url:
            if cluster:
                raise SessionConfigError(
                    "SESSION_DB_URL must be set to a PostgreSQL or Redis URL when "
                    "DEPLOYMENT=cluster"
                )
            raw_url = f"sqlite+aiosqlite:///{data_dir / 'sessions.sqlite'}"
        kind, db_url = normalize_db_url(raw_url)
        if cluster and kind not in ("postgres", "redis"):
            why = {
                "sqlite": "a SQLite file cannot be shared by several machines",
                "memory": "memory:// lives inside one process, invisible to the others",
            }.get(kind, "")
            raise SessionConfigError(
                f"SESSION_DB_URL must be a PostgreSQL or Redis URL when DEPLOYMENT=cluster: {why}"
            )

        secret = env.get("SESSION_SECRET_KEY", "").strip()
        if not secret and not need_secret:
            secret = secrets.token_urlsafe(48)
        if cluster:
            if not secret:
                raise SessionConfigError(
                    "SESSION_SECRET_KEY must be set when DEPLOYMENT=cluster, the same on every "
                    "instance (generate one with: python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))')"
                )
            if len(secret) < CLUSTER_MIN_SECRET_LENGTH:
                raise SessionConfigError(
                    f"SESSION_SECRET_KEY is too short for DEPLOYMENT=cluster: use at least "
                    f"{CLUSTER_MIN_SECRET_LENGTH} random characters"
                )
        elif not secret:
            secret = _load_or_create_secret(data_dir)
        fallbacks = tuple(
            k.strip() for k in env.get("SESSION_SECRET_KEY_FALLBACKS", "").split(",") if k.strip()
        )

        samesite = env.get("SESSION_COOKIE_SAMESITE", "").strip().lower() or "strict"
        if samesite not in ("strict", "lax", "none"):
            raise SessionConfigError(
                f"SESSION_COOKIE_SAMESITE must be strict, lax or none, not {samesite!r}"
            )
        secure = _parse_bool(env, "SESSION_COOKIE_SECURE", cluster)
        if samesite == "none" and not secure:
            raise SessionConfigError(
                "SESSION_COOKIE_SAMESITE=none requires SESSION_COOKIE_SECURE=true "
                "(browsers drop SameSite=None cookies that are not Secure)"
            )
        partitioned = _parse_bool(env, "SESSION_COOKIE_PARTITIONED", False)
        if partitioned and not secure:
            raise SessionConfigError(
                "SESSION_COOKIE_PARTITIONED=true requires SESSION_COOKIE_SECURE=true "
                "(browsers drop Partitioned cookies that are not Secure)"
            )
        cookie_name = env.get("SESSION_COOKIE_NAME", "").strip() or "session_id"
        # Header values are ASCII: anything else breaks every response (or the start-up).
        name_chars = cookie_name.replace("_", "").replace("-", "").replace(".", "")
        if not (cookie_name.isascii() and name_chars.isalnum()):
            raise SessionConfigError(
                f"SESSION_COOKIE_NAME must be ASCII letters, digits, '_', '-' or '.', "
                f"not {cookie_name!r}"
            )
        cookie_path = env.get("SESSION_COOKIE_PATH", "").strip() or "/"
        if not (cookie_path.startswith("/") and _cookie_attribute_ok(cookie_path)):
            raise SessionConfigError(
                f"SESSION_COOKIE_PATH must start with '/' and hold only printable ASCII without "
                f"';', ',' or spaces, not {cookie_path!r}"
            )
        cookie_domain = env.get("SESSION_COOKIE_DOMAIN", "").strip() or None
        if cookie_domain is not None and not (
            _cookie_attribute_ok(cookie_domain) and "/" not in cookie_domain
        ):
            raise SessionConfigError(
                f"SESSION_COOKIE_DOMAIN must be an ASCII host name (punycode for international "
                f"names), not {cookie_domain!r}"
            )
        _check_cookie_prefix(cookie_name, secure, cookie_domain, cookie_path)

        ttl = _parse_int(
            env, "SESSION_TTL_SECONDS", DEFAULT_TTL_SECONDS, minimum=1, maximum=MAX_TTL_SECONDS
        )
        absolute = _parse_absolute_ttl(env, ttl)
        return cls(
            db_url=db_url,
            store_kind=kind,
            data_dir=data_dir,
            deployment=deployment,
            secret_key=secret,
            secret_key_fallbacks=fallbacks,
            ttl_seconds=ttl,
            absolute_ttl_seconds=absolute,
            cookie_name=cookie_name,
            cookie_secure=secure,
            cookie_samesite="strict" if samesite == "strict" else samesite,  # type: ignore[arg-type]
            cookie_domain=cookie_domain,
            cookie_path=cookie_path,
            cleanup_interval_seconds=_parse_int(
                env,
                "SESSION_CLEANUP_INTERVAL_SECONDS",
                DEFAULT_CLEANUP_INTERVAL_SECONDS,
                minimum=0,
                maximum=MAX_CLEANUP_INTERVAL_SECONDS,
            ),
            max_bytes=_parse_int(
                env, "SESSION_MAX_BYTES", DEFAULT_MAX_BYTES, minimum=256, maximum=MAX_MAX_BYTES
            ),
            display_url=mask_url(db_url),
            cookie_persistent=_parse_bool(env, "SESSION_COOKIE_PERSISTENT", True),
            cookie_partitioned=partitioned,
            rolling=_parse_bool(env, "SESSION_ROLLING", True),
            db_timeout_seconds=_parse_seconds(
                env,
                "SESSION_DB_TIMEOUT_SECONDS",
                DEFAULT_DB_TIMEOUT_SECONDS,
                minimum=0.1,
                maximum=MAX_DB_TIMEOUT_SECONDS,
            ),
            db_pooler=_parse_pooler(env),
            redis_key_prefix=env.get("SESSION_REDIS_KEY_PREFIX", "") or DEFAULT_REDIS_KEY_PREFIX,
            memory_max_sessions=_parse_int(
                env,
                "SESSION_MEMORY_MAX_SESSIONS",
                DEFAULT_MEMORY_MAX_SESSIONS,
                minimum=1,
                maximum=MAX_MEMORY_MAX_SESSIONS,
            ),
            track_devices=_parse_tracking(env),
            trusted_proxies=_parse_networks(env, "SESSION_TRUSTED_PROXIES"),
            last_seen_seconds=_parse_int(
                env,
                "SESSION_LAST_SEEN_SECONDS",
                DEFAULT_LAST_SEEN_SECONDS,
                minimum=1,
                maximum=MAX_LAST_SEEN_SECONDS,
            ),
        )

    def store_options(self, kind: StoreKind) -> dict[str, Any]:
        """The settings a store of ``kind`` takes, as ``SessionStoreBackend.from_url`` options."""
        options: dict[str, Any] = {"max_bytes": self.max_bytes, "timeout": self.db_timeout_seconds}
        if kind == "postgres":
            options["pooler"] = self.db_pooler
        elif kind == "redis":
            options["key_prefix"] = self.redis_key_prefix
        elif kind == "memory":
            options["max_sessions"] = self.memory_max_sessions
        return options
