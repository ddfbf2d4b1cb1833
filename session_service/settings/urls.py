"""The database URL grammar: which store a URL names, the form each kind takes, and how a URL
is shown to a person (masked). Used by the settings, the stores and the CLI alike, so a URL
means the same thing everywhere.
"""

from __future__ import annotations

import importlib.util
import re
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ..errors import SessionConfigError
from .defaults import StoreKind

DEFAULT_SENTINEL_PORT = 26379
#: ``redis+sentinel://`` (and ``rediss+sentinel://``, TLS to the primary): the primary is found
#: through Sentinel. See :func:`split_sentinel_url`.
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
#: ``redis+cluster://`` (and ``rediss+cluster://``, TLS to every node): a Redis Cluster, reached
#: through its seed nodes. See :func:`split_cluster_url`.
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
_REDIS_SCHEMES = ("redis", "rediss", *SENTINEL_SCHEMES, *CLUSTER_SCHEMES)
DEFAULT_REDIS_PORT = 6379


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
        "redis+sentinel://…, redis+cluster://… or memory://"
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
    if parts.scheme.lower() in CLUSTER_SCHEMES:
        split_cluster_url(raw, variable=variable)
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
    if scheme in CLUSTER_SCHEMES:
        allowed -= {"db"}  # a cluster has database 0 alone
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
    sentinels = _addresses(parts.netloc, usage, "a Sentinel address", DEFAULT_SENTINEL_PORT)
    service, _, db = parts.path.lstrip("/").partition("/")
    service, db = unquote(service), db.rstrip("/")
    if not service:
        raise SessionConfigError(f"{usage}: the URL names no service (the Sentinels' master name)")
    if db and not db.isdigit():
        raise SessionConfigError(f"{usage}: the database must be a number, not {db!r}")
    return sentinels, service, int(db or 0)


def split_cluster_url(
    url: str, *, variable: str = "the database URL"
) -> tuple[tuple[str, int], ...]:
    """The seed nodes of a ``redis+cluster://[user:password@]host1[:6379][,host2…][/][?…]``
    URL: any of them tells the client the whole cluster. The userinfo and the query apply to
    every node, as in a ``redis://`` URL; a cluster has database 0 alone, so no other may be
    named."""
    usage = f"{variable} must be redis+cluster://[:password@]host:6379[,host:6379…][/?key_prefix=…]"
    parts = urlsplit(url)
    nodes = _addresses(parts.netloc, usage, "a seed node's address", DEFAULT_REDIS_PORT)
    if parts.path.strip("/") not in ("", "0"):
        raise SessionConfigError(f"{usage}: a Redis Cluster has database 0 alone")
    return nodes


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


def _addresses(
    netloc: str, usage: str, what: str, default_port: int
) -> tuple[tuple[str, int], ...]:
    """The comma-separated ``host[:port]`` list of a Sentinel or cluster URL's netloc (after
    any userinfo), each refused with ``usage`` when its port is invalid or it is empty."""
    found = []
    for item in netloc.rpartition("@")[2].split(","):
        try:
            address = urlsplit("//" + item.strip())
            host, port = address.hostname, address.port
        except ValueError:
            raise SessionConfigError(f"{usage}: {item.strip()!r} has an invalid port") from None
        if not host:
            raise SessionConfigError(f"{usage}: {what} is empty")
        found.append((host, port or default_port))
    return tuple(found)
