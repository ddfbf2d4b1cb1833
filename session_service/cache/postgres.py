"""Revocations from PostgreSQL: ``LISTEN`` on one dedicated connection per process.

Revision 0006's triggers on the ``sessions`` table ``NOTIFY`` :data:`CHANNEL` with the ids of
the rows a statement deleted (whatever ran it: the store, ``psql``, another tool), ``*``
when it deleted too many to list or the table was truncated, and the old id of a row whose id
changed (a rotation) or whose expiry was moved into the past. Rows deleted because they had
expired already are not named: an expired session is never served from the cache anyway, so
the expiry cleanup costs the listeners nothing.

The connection is asyncpg's own, opened on ``SESSION_PG_DIRECT_URL`` when set (a transaction
pooler cannot carry ``LISTEN``), else on ``SESSION_DB_URL``. The health ping is a
``pg_notify`` to the channel that must come back on this connection: it proves the whole
path. A pooler in between reads as down, never as up: the ping's notification names the
server process that sent it, and through a pooler that is not the process the connection
was told it talks to (a pooler hands out keys of its own).

Since revision 0010 the triggers notify only while some cache is registered in
``session_service_listeners`` (migrations/versions/0010_notify_listeners.py: a notification
serialises every committing transaction of the server). The channel registers its
connection's server process once subscribed, then takes :data:`LISTENERS_LOCK` once, which
waits for every transaction that found nobody registered; only then does the cache serve a
hit. On an older schema it looks again at each ping, so a ``migrate`` run after the code was
deployed finds it registered within a ping (on a database in use the revision notifies
regardless, until ``session-service caches-upgraded``).
Closing removes the registration; one left by a process that died is removed by the next
cache that registers, once its server process is gone.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from .channel import ChannelLost, RevocationChannel
from .local import LocalCache

#: The channel of revocations (named in migrations/versions/0006_cache_notify.py too).
CHANNEL = "session_service_revoked"
_PING = "ping:"
#: The advisory lock a trigger that found no listener holds until its transaction ends
#: (migrations/versions/0010_notify_listeners.py).
LISTENERS_LOCK = (0x5E55_0004, 0)
_HAS_REGISTRY = "SELECT to_regclass('session_service_listeners') IS NOT NULL"
_REGISTER = (
    "INSERT INTO session_service_listeners (pid, until) VALUES (pg_backend_pid(), NULL) "
    "ON CONFLICT (pid) DO UPDATE SET until = NULL"
)
#: Registrations of server processes that are gone, and any that has an ``until`` passed.
#: An upgrade's grace (pid 0, ``until`` infinity) is neither: only ``caches-upgraded`` ends it.
_FORGET_GONE = (
    "DELETE FROM session_service_listeners WHERE until <= now() OR (until IS NULL AND pid "
    "NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL))"
)
_UNREGISTER = "DELETE FROM session_service_listeners WHERE pid = pg_backend_pid()"
#: One autocommit statement: granted once no silent trigger's transaction is open.
_WAIT_FOR_SILENT = "SELECT pg_advisory_xact_lock($1, $2)"
_POOLED = (
    "this connection goes through a pooler, which cannot carry LISTEN: set "
    "SESSION_PG_DIRECT_URL to a URL of the same database that bypasses it"
)


class PgRevocations(RevocationChannel):
    """The PostgreSQL channel (see the module docstring)."""

    def __init__(self, cache: LocalCache, url: str, where: str, *, timeout: float, **kw: Any):
        super().__init__(cache, timeout=timeout, **kw)
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.where = where
        self._conn: Any = None
        self._gone: asyncio.Future[None] | None = None
        self._token = _PING + secrets.token_hex(8)
        self._echo: asyncio.Future[None] | None = None
        #: The server process of the listening connection (``None`` while not connected).
        self.backend_pid: int | None = None
        #: Whether that process is registered as a listener (revision 0010).
        self._registered = False

    async def _subscribe(self) -> None:
        loop = asyncio.get_running_loop()
        self._gone = gone = loop.create_future()
        conn = await asyncpg.connect(self._dsn, timeout=self.timeout, statement_cache_size=0)
        self._conn = conn

        def terminated(_: Any) -> None:
            if not gone.done():
                gone.set_result(None)

        conn.add_termination_listener(terminated)
        await conn.add_listener(CHANNEL, self._notified)
        self.backend_pid = conn.get_server_pid()
        self._registered = False
        await self._ping()  # heard our own notification: LISTEN really works here

    async def _register(self) -> None:
        """Register this connection's server process as a listener, then wait until every
        transaction that found none is over (the module docstring). Nothing to do on a
        schema before revision 0010, whose triggers always notify."""
        conn = self._conn
        if not await conn.fetchval(_HAS_REGISTRY):
            return
        await conn.execute(_REGISTER)
        await conn.execute(_FORGET_GONE)
        await conn.execute(_WAIT_FOR_SILENT, *LISTENERS_LOCK)
        self._registered = True

    def _notified(self, conn: Any, pid: int, _channel: str, payload: str) -> None:
        if payload.startswith(_PING):
            echo = self._echo
            if payload == self._token and echo is not None and not echo.done():
                if pid == conn.get_server_pid():
                    echo.set_result(None)
                else:  # the server process that sent it is not the one we talk to
                    echo.set_exception(ChannelLost(_POOLED))
            return  # another process's ping
        self.heard(payload)

    async def _ping(self) -> None:
        conn = self._conn
        if conn is None or conn.is_closed():
            raise ChannelLost("not connected")
        self._echo = asyncio.get_running_loop().create_future()
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, self._token)
        await self._echo
        if not self._registered:  # once the echo proved a direct connection
            await self._register()

    async def _lost(self) -> None:
        assert self._gone is not None
        await self._gone

    async def _close(self) -> None:
        conn, self._conn, self.backend_pid = self._conn, None, None
        registered, self._registered = self._registered, False
        if conn is not None and not conn.is_closed():
            try:
                if registered:
                    await conn.execute(_UNREGISTER)
                await conn.close(timeout=self.timeout)
            except Exception:
                conn.terminate()
