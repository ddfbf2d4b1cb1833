"""A bounded redis-py connection pool that costs little per command.

redis-py's ``BlockingConnectionPool`` makes a command wait for a free connection instead of
failing beyond ``max_connections``, which a web app under a burst needs, but it takes an
``asyncio.Condition`` and arms a timer on every checkout (measured here: 57 µs of client CPU
per ``GET`` against 45 µs on the plain pool). :class:`BoundedConnectionPool` keeps the plain
pool's checkout and bounds it with a semaphore, so the wait (and its timer) happens only when
every connection is busy, and waiters are served first come, first served. The bound is a
mixin, so the Sentinel pool (``redis+sentinel://``) has the same one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis import exceptions as rx
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff

from ...settings import split_sentinel_url


class _Bounded:
    """The bound, for any redis-py pool class it is mixed into (first, before the pool):
    at most ``max_connections`` connections; beyond that a command waits up to ``timeout``
    seconds for one, then fails with ``ConnectionError`` (a 503 upstream)."""

    def __init__(self, *args: Any, max_connections: int, timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, max_connections=max_connections, **kwargs)  # type: ignore[call-arg]
        self._slots = asyncio.Semaphore(max_connections)
        self._slotted: set[Any] = set()  # connections handed out, each holding one slot
        self._wait = timeout

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._wait):
                    await self._slots.acquire()
            except TimeoutError:
                raise rx.ConnectionError("No connection available.") from None
        else:
            await self._slots.acquire()  # free: no wait, no timer
        try:
            connection = await super().get_connection(*args, **kwargs)  # type: ignore[misc]
        except BaseException:
            # The plain pool already released the connection it may have taken (through
            # ``release`` below, which frees no slot for it): free the slot taken here.
            self._slots.release()
            raise
        self._slotted.add(connection)
        return connection

    async def release(self, connection: Any) -> None:
        try:
            await super().release(connection)  # type: ignore[misc]
        finally:
            if connection in self._slotted:
                self._slotted.discard(connection)
                self._slots.release()


class BoundedConnectionPool(_Bounded, aioredis.ConnectionPool):
    """A plain pool (``redis://``, ``rediss://``) with the bound of :class:`_Bounded`."""


class BoundedSentinelPool(_Bounded, SentinelConnectionPool):
    """A pool whose connections go to the primary Sentinel names (``redis+sentinel://``),
    with the same bound. A connection asks the Sentinels for the primary when it connects, so
    after a failover the connections to the old primary fail (503) and the next ones reach
    the new primary once the Sentinels have promoted it."""


async def run_command(pool: aioredis.ConnectionPool, *args: Any) -> Any:
    """One command on a pooled connection, sent straight through it; the server's reply as
    it came (``bytes``, ``int``, a list), an error reply raised as ``ResponseError``.

    ``Redis.execute_command`` wraps every command in a retry loop, response callbacks and
    per-command bookkeeping. The store's commands need none of it, and must not be retried:
    a script whose connection failed may already have run (a retried ``create`` would find its
    own id taken), and a failure is the caller's 503 at once. A connection that failed
    mid-command may hold half a reply, so it is disconnected before it goes back (the pool
    reconnects it on its next checkout).
    """
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await connection.send_command(*args)
        return await connection.read_response()
    except rx.ResponseError:
        raise  # the server answered: the connection is in step
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)


def sentinel_client(url: str, options: Mapping[str, Any]) -> tuple[aioredis.Redis, Sentinel]:
    """The client of a ``redis+sentinel://`` URL's primary, and the Sentinel manager (which
    the caller closes with the client).

    The userinfo, database and query are the primary's, parsed by redis-py as they would be in
    a ``redis://`` URL (a query argument wins over ``options``, as in ``from_url``);
    ``rediss+sentinel://`` is TLS to the primary and its replicas. The Sentinels themselves
    are asked over plain TCP, with ``?sentinel_password=`` if given, the same timeouts and no
    retry: the next Sentinel in the URL is the retry.
    """
    sentinels, service, db = split_sentinel_url(url)
    parts = urlsplit(url)
    tls = parts.scheme.lower() == "rediss+sentinel"
    query = parse_qsl(parts.query, keep_blank_values=True)
    sentinel_password = [v for k, v in query if k == "sentinel_password"]
    userinfo, at, _ = parts.netloc.rpartition("@")
    primary: dict[str, Any] = dict(parse_url(urlunsplit((
        "rediss" if tls else "redis", f"{userinfo}{at}primary", f"/{db}",
        urlencode([(k, v) for k, v in query if k != "sentinel_password"]), "",
    ))))  # fmt: skip
    for name in ("host", "port", "connection_class"):
        primary.pop(name, None)
    ask = {k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")}
    manager = Sentinel(  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8
        sentinels,
        sentinel_kwargs={
            **ask,
            "retry": Retry(NoBackoff(), 0),
            "password": sentinel_password[-1] if sentinel_password else None,
        },
    )
    pool = BoundedSentinelPool(service, manager, ssl=tls, **{**options, **primary})
    return aioredis.Redis.from_pool(pool), manager


#: The first element of a script's answer "run me again with these keys declared too"
#: (:mod:`.scripts`): a NUL, which no session id, log entry or value a script returns holds.
MORE_KEYS = b"\0keys"

#: How many times a script may ask for more keys before the call fails (503): each answer
#: adds what the script found it needed (an index's members, then their owners' indexes), so
#: a call runs again only for sessions that appeared meanwhile (logins of the same user at
#: its SESSION_MAX_PER_USER racing this one): only a user logging in without pause exhausts it.
_ROUNDS = 64


async def run_script(
    pool: aioredis.ConnectionPool,
    sha: str,
    source: str,
    keys: Sequence[str],
    args: Sequence[Any],
    asked: list[Any] | None = None,
) -> Any:
    """``EVALSHA`` through :func:`run_command`; a server that does not have the script yet
    (restarted, flushed) gets it loaded, then runs it once. A script that answers
    :data:`MORE_KEYS` changed nothing: it runs again with the keys it named declared too
    (added to ``asked`` when given, so the caller can declare them up front next time)."""
    declared: Sequence[Any] = keys
    for _ in range(_ROUNDS):
        try:
            reply = await run_command(pool, "EVALSHA", sha, len(declared), *declared, *args)
        except rx.NoScriptError:
            await run_command(pool, "SCRIPT", "LOAD", source)
            reply = await run_command(pool, "EVALSHA", sha, len(declared), *declared, *args)
        if type(reply) is not list or not reply or reply[0] != MORE_KEYS:
            return reply
        declared = [*declared, *reply[1:]]
        if asked is not None:
            asked += reply[1:]
    raise rx.ResponseError("the keys a script touches kept changing; try again")
