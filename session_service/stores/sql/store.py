"""The SQL session store: every method of the store contract, written once for both dialects.

:class:`SqliteSessionStore` and :class:`PgSessionStore` are this class with a different
:data:`kind`; the few lines where the dialects differ live in :mod:`._dialects` (engines) and
are marked ``[dialect]`` in :mod:`._hot_path` (per-request statements). The admin operations
(by user, by tenant, cleanup, statistics) are in :mod:`._sql_admin`.

Guarantees the middleware and the CLI build on:

* ``save`` writes data, expiry and the ``user_id`` column in one statement, so the column can
  never disagree with ``data["user_id"]``.
* ``update`` and ``touch`` change a row only if it still exists and has not expired: a session
  deleted elsewhere (logout, ``clear_sessions_for_user``) is never brought back by a request
  that loaded it earlier.
* ``create`` never overwrites: on an id collision it picks a fresh id.
* reads never return expired rows; ``delete_expired`` and ``clear_all_sessions`` work in
  bounded batches, each its own short transaction, so they never hold a long lock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, ClassVar, Self

from sqlalchemy import func, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ...devices import HANDLE_LENGTH, IP_LENGTH, USER_AGENT_LENGTH, new_handle
from ...records import SessionRecord, new_session_id, user_id_of, utcnow
from ...settings import DbPooler, StoreKind, mask_url, normalize_db_url
from .._codec import check_text, decode_data, encode_data, json_serializer, storable
from .._delta import Delta, prepare_delta
from .._errors import StoreBusy, translate_errors
from . import migrate as _migrate
from .admin import SqlAdminOps
from .delta import READ_SQL, compare_sql, patch_statement
from .dialects import DEFAULT_TIMEOUT_SECONDS, make_engine
from .hot_path import (
    CREATE_SQL,
    DELETE_SQL,
    LOAD_SQL,
    SAVE_SQL,
    SEEN_SQL,
    TOUCH_SQL,
    UPDATE_DATA_SQL,
    UPDATE_SQL,
    PgHotPath,
    SqliteHotPath,
    hot_path,
)
from .loop_engine import LoopEngine
from .schema import ID_LENGTH, PRINCIPAL_LENGTH
from .schema import sessions_table as T

_CREATE_ATTEMPTS = 5
#: Compare-and-set rounds of a ``patch`` before giving up (each lost round means another
#: write to the same session landed in between; losing this many in a row is a hot loop).
_COMPARE_ATTEMPTS = 50
_ROW_COLUMNS = (T.c.id, T.c.data, T.c.expiry_date, T.c.user_id, T.c.tenant_id)


class SqlSessionStore(SqlAdminOps):
    """Sessions in one SQL table, through SQLAlchemy 2 async Core.

    ``pooler="transaction"`` (PostgreSQL, ``SESSION_DB_POOLER``) says the database is reached
    through a transaction pooler, so the per-request statements skip detecting one.
    """

    kind: ClassVar[StoreKind]

    def __init__(
        self,
        url: str,
        *,
        engine: AsyncEngine | None = None,
        max_bytes: int | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        pooler: DbPooler = "none",
        **engine_options: Any,
    ) -> None:
        kind, normalized = normalize_db_url(url)
        if kind != self.kind:
            raise ValueError(f"{type(self).__name__} cannot open a {kind} URL")
        self.display_url = mask_url(normalized)
        self.max_bytes = max_bytes
        engine_options.setdefault("json_serializer", json_serializer)
        engine_options.setdefault("json_deserializer", decode_data)  # lenient, like load()
        # A SQLite engine creates the file's directory; failing to is an unusable store.
        with translate_errors(self.display_url, "open the database"):
            self._engines = LoopEngine(
                engine or make_engine(kind, normalized, timeout=timeout, **engine_options)
            )
        # [dialect] behind a transaction pooler (PostgreSQL): unnamed statements from the start
        self._hot = hot_path(kind, normalized, timeout, unnamed=pooler == "transaction")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display_url!r})"

    @classmethod
    async def connect(cls, url: str, **options: Any) -> Self:
        """Open the store and check that the database answers."""
        store = cls(url, **options)
        await store.ping()
        return store

    @property
    def hot(self) -> PgHotPath | SqliteHotPath:
        """The per-request statement runner (the rate limits and counters run on it too)."""
        return self._hot

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine (for advanced use and tests)."""
        return self._engine

    # -- lifecycle -----------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise :class:`SessionStoreUnavailable` unless the database answers a query."""
        with translate_errors(self.display_url, "answer"):
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

    async def migrate(self) -> None:
        """Bring the schema to the newest revision; idempotent and safe to run concurrently."""
        with translate_errors(self.display_url, "migrate"):
            await _migrate.run_on_engine(self._engine, _migrate.upgrade_on)

    async def schema_revision(self) -> str | None:
        """The schema's Alembic revision (``None`` before the first migration)."""
        with translate_errors(self.display_url, "read the schema revision"):
            async with self._engine.connect() as conn:
                return await conn.run_sync(_migrate.revision_on)

    async def close(self) -> None:
        """Release every pooled connection. The store can still be used afterwards."""
        await self._hot.close()
        await self._engine.dispose()

    # -- one session ---------------------------------------------------------------------

    def _values(self, record: SessionRecord, now: datetime) -> dict[str, Any]:
        check_text("the session id", record.id, ID_LENGTH)
        check_text("tenant_id", record.tenant_id, PRINCIPAL_LENGTH)
        user_id = user_id_of(record.data)
        check_text("session['user_id']", user_id, PRINCIPAL_LENGTH)
        check_text("the ip", record.ip, IP_LENGTH)
        check_text("the user agent", record.user_agent, USER_AGENT_LENGTH)
        check_text("the handle", record.handle, HANDLE_LENGTH)
        record.user_id = user_id
        return {
            "data": encode_data(record.data, self.max_bytes),
            "expiry_date": record.expiry_date,
            "user_id": record.user_id,
            "updated_at": now,
        }

    async def load(self, session_id: str) -> SessionRecord | None:
        """The live session with this id, or ``None`` when missing or expired."""
        if not storable(session_id):
            return None
        hot = self._hot
        try:  # not ``with translate_errors``: a try costs nothing until something is raised
            row = await hot.fetchrow(LOAD_SQL, session_id, hot.now_ts())
        except Exception:
            with translate_errors(self.display_url, "load a session"):
                raise
        if row is None:
            return None
        sid, data, expiry, user_id, tenant_id, seen = row
        record = SessionRecord(sid, decode_data(data), hot.parse_ts(expiry), user_id, tenant_id)
        if seen is not None:
            record.last_seen = hot.parse_ts(seen)
        return record

    def _args(self, record: SessionRecord, now: datetime) -> tuple[Any, ...]:
        """``$1``-``$10`` of the insert statements: id, data, expiry, user, tenant, now, ip,
        user agent, last seen, handle (a fresh one, set on ``record``, when it has none)."""
        if record.handle is None:
            record.handle = new_handle()
        values, ts = self._values(record, now), self._hot.ts
        seen = None if record.last_seen is None else ts(record.last_seen)
        return (record.id, str(values["data"]), ts(record.expiry_date), record.user_id,
                record.tenant_id, ts(now), record.ip, record.user_agent, seen,
                record.handle)  # fmt: skip

    async def create(self, record: SessionRecord) -> SessionRecord:
        """Insert a new session; if its id is taken, use a fresh id (set on ``record``)."""
        args = self._args(record, utcnow())
        with translate_errors(self.display_url, "create a session"):
            for _ in range(_CREATE_ATTEMPTS):
                if await self._hot.execute(CREATE_SQL, record.id, *args[1:]) == 1:
                    return record
                record.id = new_session_id()
        raise RuntimeError("could not find a free session id; the random source is broken")

    async def save(self, record: SessionRecord) -> None:
        """Insert or update ``record`` in one statement (``user_id`` follows ``data``)."""
        args = self._args(record, utcnow())
        with translate_errors(self.display_url, "save a session"):
            await self._hot.execute(SAVE_SQL, *args)

    async def update(self, record: SessionRecord, *, extend_expiry: bool = True) -> bool:
        """Write ``record`` only if its row still exists and is live; ``False`` if it does not.

        This is what the middleware uses, so a session revoked while a request held it stays
        revoked instead of being re-inserted by that request's save. With
        ``extend_expiry=False`` the stored expiry is left as it is (``record.expiry_date``
        should then hold it), which makes the write about half as expensive.
        """
        when = utcnow()
        data = str(self._values(record, when)["data"])  # not ``_args``: no handle is needed
        ts, sid, user_id = self._hot.ts, record.id, record.user_id
        now, seen = ts(when), None if record.last_seen is None else ts(record.last_seen)
        with translate_errors(self.display_url, "save a session"):
            if not extend_expiry and await self._hot.execute(
                UPDATE_DATA_SQL, sid, data, user_id, now, seen
            ):
                return True
            expiry = ts(record.expiry_date)
            return bool(await self._hot.execute(UPDATE_SQL, sid, data, expiry, user_id, now, seen))

    async def patch(
        self,
        session_id: str,
        changed: Mapping[str, Any],
        removed: Collection[str],
        *,
        expiry_date: datetime | None = None,
    ) -> bool:
        """Merge a request's changes into a live session; ``False`` (nothing written) if it is
        gone or expired.

        One statement (see :mod:`.delta`): the keys in ``changed`` are set, those in
        ``removed`` deleted, every other key stays as stored, so a concurrent request's
        changes to other keys are kept. ``expiry_date=None`` leaves the expiry as it is.
        """
        if not storable(session_id):
            return False
        delta = prepare_delta(changed, removed)
        hot = self._hot
        now = hot.ts(utcnow())
        expiry = None if expiry_date is None else hot.ts(expiry_date)
        with translate_errors(self.display_url, "save a session"):
            one = patch_statement(
                self.kind, session_id, delta, now=now, expiry=expiry, max_bytes=self.max_bytes
            )
            if one is not None and await hot.execute(one[0], *one[1]):
                return True
            return await self._patch_by_compare(session_id, delta, now, expiry)

    async def _patch_by_compare(self, sid: str, delta: Delta, now: Any, expiry: Any) -> bool:
        """Read, merge in Python, write only if unchanged meanwhile (else again); exact about
        ``SESSION_MAX_BYTES`` and about data that is not a JSON object. ``False``: gone."""
        hot, kind = self._hot, self.kind
        write = compare_sql(kind, expiry is not None)
        for _ in range(_COMPARE_ATTEMPTS):
            row = await hot.fetchrow(READ_SQL[kind], sid, now)
            if row is None:
                return False
            old = row[0]
            data = delta.apply(decode_data(old))
            text = str(encode_data(data, self.max_bytes))  # over the limit: nothing written
            user_id = user_id_of(data)
            check_text("session['user_id']", user_id, PRINCIPAL_LENGTH)
            args = (sid, text, user_id, now, old) + (() if expiry is None else (expiry,))
            if await hot.execute(write, *args):
                return True
        raise StoreBusy(f"{_COMPARE_ATTEMPTS} concurrent writes in a row beat this one")

    async def touch(
        self, session_id: str, expiry_date: datetime, *, last_seen: datetime | None = None
    ) -> bool:
        """Extend a live session's expiry without rewriting its data; ``False`` if it is gone.

        ``last_seen``, when given, is written in the same statement."""
        if not storable(session_id):
            return False
        hot = self._hot
        expiry, now = hot.ts(expiry_date), hot.ts(utcnow())
        seen = None if last_seen is None else hot.ts(last_seen)
        with translate_errors(self.display_url, "extend a session"):
            return bool(await hot.execute(TOUCH_SQL, session_id, expiry, now, seen))

    async def seen(self, session_id: str, when: datetime) -> bool:
        """Set a live session's ``last_seen`` alone (its expiry does not move)."""
        if not storable(session_id):
            return False
        with translate_errors(self.display_url, "record a session's last use"):
            return bool(await self._hot.execute(SEEN_SQL, session_id, self._hot.ts(when)))

    async def rotate(self, old_id: str, record: SessionRecord) -> bool:
        """Move a live session to ``record.id`` (login: ``cycle_id``) in one statement.

        An ``UPDATE`` of the row's id, not a delete plus an insert: a concurrent
        ``clear_sessions_for_user`` that is waiting on the row then re-checks the moved row
        and deletes it too, instead of missing a freshly inserted one. Returns ``False`` (and
        writes nothing) if the old session had been revoked meanwhile.
        """
        now = utcnow()
        values = self._values(record, now)
        if not storable(old_id):
            return False
        # The handle survives the new id (it names the session, not the id); a login with
        # device tracking on records the device it happened on.
        values["handle"] = func.coalesce(T.c.handle, record.handle or new_handle())
        if record.last_seen is not None:
            values.update(ip=record.ip, user_agent=record.user_agent, last_seen=record.last_seen)
        with translate_errors(self.display_url, "rotate a session id"):
            for _ in range(_CREATE_ATTEMPTS):
                stmt = (
                    update(T)
                    .where(T.c.id == old_id, T.c.expiry_date > now)
                    .values(id=record.id, tenant_id=record.tenant_id, created_at=now, **values)
                )
                try:
                    async with self._writer.begin() as conn:
                        return bool((await conn.execute(stmt)).rowcount)
                except IntegrityError:
                    record.id = new_session_id()  # the new id is taken: draw another
        raise RuntimeError("could not find a free session id; the random source is broken")

    async def delete(self, session_id: str) -> None:
        """Remove the session; no error when it is already gone."""
        if not storable(session_id):
            return
        with translate_errors(self.display_url, "delete a session"):
            await self._hot.execute(DELETE_SQL, session_id)
