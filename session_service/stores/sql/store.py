"""The SQL session store: the primitives of :class:`~..base.SessionStoreBase` on one table,
written once for both databases.

:class:`~.sqlite.SqliteSessionStore` and :class:`~.postgres.PgSessionStore` subclass it with
what differs between the two: the engine, the per-request driver (:mod:`.driver`), the
statements of ``patch``, and the few locks and snapshots of the admin side. This module never
asks which database it is on. The admin primitives (by user, by tenant, cleanup, statistics)
are in :mod:`.admin`.

Guarantees the middleware and the CLI build on:

* ``save`` writes data, expiry and the ``user_id`` column in one statement, so the column can
  never disagree with ``data["user_id"]``.
* ``update`` and ``touch`` change a row only if it still exists and has not expired: a session
  deleted elsewhere (logout, ``clear_sessions_for_user``) is never brought back by a request
  that loaded it earlier.
* reads never return expired rows; ``delete_expired`` and ``clear_all_sessions`` work in
  bounded batches, each its own short transaction, so they never hold a long lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ...errors import SessionConfigError
from ...lifetime_rules import earliest_start
from ...records import SessionRecord, user_id_of, utcnow
from ...settings import DbPooler, StoreKind, mask_url, normalize_db_url
from ...storable import PRINCIPAL_LENGTH, check_text
from .._codec import decode_data, encode_json, json_serializer
from .._delta import Delta
from .._errors import StoreBusy, translate_errors
from .._per_user import owner_key
from ..base import IdTaken
from . import migrate as _migrate
from .driver import Driver, Step
from .engine import DEFAULT_TIMEOUT_SECONDS
from .limits import SqlLimitStorage
from .loop_engine import LoopEngine
from .statements import (
    CREATE_SQL,
    DELETE_SQL,
    LOAD_SQL,
    NO_START_LIMIT,
    OWNER_COUNT_SQL,
    ROTATE_SQL,
    SAVE_SQL,
    SEEN_SQL,
    TOUCH_SQL,
    UPDATE_DATA_SQL,
    UPDATE_SQL,
)
from .transfer import SqlTransferOps

#: Compare-and-set rounds of a ``patch`` before giving up (each lost round means another
#: write to the same session landed in between; losing this many in a row is a hot loop).
_COMPARE_ATTEMPTS = 50


class SqlSessionStore(SqlTransferOps):
    _limits_in_rotate = True  # see _rotate
    """Sessions in one SQL table: the driver for one session per request, SQLAlchemy 2 async
    Core for the rest.

    ``pooler="transaction"`` (PostgreSQL, ``SESSION_DB_POOLER``) says the database is reached
    through a transaction pooler, so the per-request statements skip detecting one.
    """

    kind: ClassVar[StoreKind]
    #: The database's stored data as text, for the compare-and-set path of ``patch``.
    _read_sql: ClassVar[str]

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
            raise SessionConfigError(f"{type(self).__name__} cannot open a {kind} URL")
        self.display_url = mask_url(normalized)
        self.max_bytes = max_bytes
        engine_options.setdefault("json_serializer", json_serializer)
        engine_options.setdefault("json_deserializer", decode_data)  # lenient, like load()
        # A SQLite engine creates the file's directory; failing to is an unusable store.
        with translate_errors(self.display_url, "open the database"):
            self._engines = LoopEngine(
                engine or self._make_engine(normalized, timeout, engine_options)
            )
        self._hot = self._make_driver(normalized, timeout, pooler)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display_url!r})"

    @classmethod
    async def connect(cls, url: str, **options: Any) -> Self:
        """Open the store and check that the database answers."""
        store = cls(url, **options)
        await store.ping()
        return store

    # -- what each database provides ----------------------------------------------------------

    def _make_engine(self, url: str, timeout: float, options: dict[str, Any]) -> AsyncEngine:
        raise NotImplementedError

    def _make_driver(self, url: str, timeout: float, pooler: DbPooler) -> Driver:
        raise NotImplementedError

    def _patch_statement(
        self, session_id: str, delta: Delta, now: Any, expiry: Any
    ) -> tuple[str, list[Any]] | None:
        """The one-statement merge of ``delta`` (``None``: only compare-and-set can)."""
        raise NotImplementedError

    def _compare_sql(self, expiry: bool) -> str:
        raise NotImplementedError

    # -- what it offers -----------------------------------------------------------------------

    @property
    def hot(self) -> Driver:
        """The per-request statement runner (the rate limits and counters run on it too)."""
        return self._hot

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine (for advanced use and tests)."""
        return self._engine

    def limit_storage(self) -> SqlLimitStorage:
        """Rate limits and counters in this database, on the per-request driver."""
        return SqlLimitStorage(self._hot, self.display_url)

    # -- lifecycle -----------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise :class:`SessionStoreUnavailable` unless the database answers a query."""
        with translate_errors(self.display_url, "answer"):
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

    async def migrate(self) -> None:
        """Bring the schema to the newest revision; idempotent and safe to run concurrently."""
        await self.run_migration(_migrate.upgrade_on)

    async def run_migration(self, fn: _migrate.Step) -> None:
        """Run ``fn`` on one connection, in one transaction, under the migration lock (what
        ``migrate`` and the ``alembic`` command both do)."""
        with translate_errors(self.display_url, "migrate"):
            await _migrate.run_on_engine(self._engine, fn, self._lock_for_migration)

    async def schema_revision(self) -> str | None:
        """The schema's Alembic revision (``None`` before the first migration)."""
        with translate_errors(self.display_url, "read the schema revision"):
            async with self._engine.connect() as conn:
                return await conn.run_sync(_migrate.revision_on)

    async def close(self) -> None:
        """Release every pooled connection. The store can still be used afterwards."""
        await self._hot.close()
        await self._engine.dispose()

    # -- one session (primitives: the record is checked and encoded already) -----------------

    async def _load(self, session_id: str) -> SessionRecord | None:
        hot = self._hot
        try:  # not ``with translate_errors``: a try costs nothing until something is raised
            row = await hot.fetchrow(LOAD_SQL, session_id, hot.now_ts())
        except Exception:
            with translate_errors(self.display_url, "load a session"):
                raise
        if row is None:
            return None
        # No ``id`` column: the row's id is the key looked up (``WHERE id = $1``), one column
        # less to build and convert per request.
        data, expiry, user_id, tenant_id, seen, created, handle = row
        record = SessionRecord(
            session_id, decode_data(data), hot.parse_ts(expiry), user_id, tenant_id
        )
        record.handle = handle  # what names the session to the devices page (``current``)
        record.created_at = hot.parse_ts(created)  # the start of its absolute lifetime
        if seen is not None:
            record.last_seen = hot.parse_ts(seen)
        return record

    def _args(self, record: SessionRecord, data: str) -> tuple[Any, ...]:
        """``$1``-``$10`` of the insert statements: id, data, expiry, user, tenant, now, ip,
        user agent, last seen, handle."""
        ts = self._hot.ts
        seen = None if record.last_seen is None else ts(record.last_seen)
        return (record.id, data, ts(record.expiry_date), record.user_id, record.tenant_id,
                self._hot.now_ts(), record.ip, record.user_agent, seen,
                record.handle)  # fmt: skip

    async def _insert(self, record: SessionRecord, data: str) -> None:
        with translate_errors(self.display_url, "create a session"):
            if await self._hot.execute(CREATE_SQL, *self._args(record, data)) != 1:
                raise IdTaken

    async def _save(self, record: SessionRecord, data: str) -> None:
        with translate_errors(self.display_url, "save a session"):
            await self._hot.execute(SAVE_SQL, *self._args(record, data))

    async def _update(self, record: SessionRecord, data: str, extend_expiry: bool) -> bool:
        hot = self._hot
        ts, sid, user_id = hot.ts, record.id, record.user_id
        now, seen = hot.now_ts(), None if record.last_seen is None else ts(record.last_seen)
        with translate_errors(self.display_url, "save a session"):
            if not extend_expiry and await hot.execute(
                UPDATE_DATA_SQL, sid, data, user_id, now, seen
            ):
                return True
            expiry = ts(record.expiry_date)
            return bool(await hot.execute(UPDATE_SQL, sid, data, expiry, user_id, now, seen))

    async def _patch(self, session_id: str, delta: Delta, expiry_date: datetime | None) -> bool:
        """One statement when the database can merge it (see :mod:`.delta`), else
        compare-and-set."""
        hot = self._hot
        now = hot.now_ts()
        expiry = None if expiry_date is None else hot.ts(expiry_date)
        try:  # as in ``_load``: no ``translate_errors`` object per request
            one = None if delta.expected else self._patch_statement(session_id, delta, now, expiry)
            if one is not None and await hot.execute(one[0], *one[1]):
                return True
            return await self._patch_by_compare(session_id, delta, now, expiry)
        except Exception:
            with translate_errors(self.display_url, "save a session"):
                raise

    async def _patch_by_compare(self, sid: str, delta: Delta, now: Any, expiry: Any) -> bool:
        """Read, merge in Python, write only if unchanged meanwhile (else again); exact about
        ``SESSION_MAX_BYTES`` and about data that is not a JSON object. ``False``: gone."""
        hot = self._hot
        write = self._compare_sql(expiry is not None)
        for _ in range(_COMPARE_ATTEMPTS):
            row = await hot.fetchrow(self._read_sql, sid, now)
            if row is None:
                return False
            old = row[0]
            data = decode_data(old)
            if delta.expected and not delta.holds(data):
                return False  # changed since it was read (a compare-and-set: ``Delta``)
            data = delta.apply(data)
            merged = encode_json(data, self.max_bytes)  # over the limit: nothing written
            user_id = user_id_of(data)
            check_text("session['user_id']", user_id, PRINCIPAL_LENGTH)
            args = (sid, merged, user_id, now, old) + (() if expiry is None else (expiry,))
            if await hot.execute(write, *args):
                return True
        raise StoreBusy(f"{_COMPARE_ATTEMPTS} concurrent writes in a row beat this one")

    async def _touch(
        self, session_id: str, expiry_date: datetime, last_seen: datetime | None
    ) -> bool:
        hot = self._hot
        expiry, now = hot.ts(expiry_date), hot.now_ts()
        seen = None if last_seen is None else hot.ts(last_seen)
        with translate_errors(self.display_url, "extend a session"):
            return bool(await hot.execute(TOUCH_SQL, session_id, expiry, now, seen))

    async def _seen(self, session_id: str, when: datetime) -> bool:
        with translate_errors(self.display_url, "record a session's last use"):
            return bool(await self._hot.execute(SEEN_SQL, session_id, self._hot.ts(when)))

    async def _rotate(self, old_id: str, record: SessionRecord, data: str) -> bool:
        """One statement on the per-request driver (:data:`.statements.ROTATE_SQL`). With
        ``SESSION_MAX_PER_USER``, one atomic step holding the owner from its start moves the
        row and deletes the user's extra sessions (:meth:`_limited_login`): logins racing for
        one user queue on the owner, and the later one sees the earlier one's session."""
        hot = self._hot
        now, user = hot.now_ts(), record.user_id
        seen = None if record.last_seen is None else hot.ts(record.last_seen)
        start = hot.ts(earliest_start(self.absolute_ttl, utcnow()) or NO_START_LIMIT)
        move = (old_id, record.id, data, hot.ts(record.expiry_date), user, record.tenant_id,
                now, record.handle, seen, record.ip, record.user_agent, start)  # fmt: skip
        with translate_errors(self.display_url, "rotate a session id"):
            try:
                if not (self.max_per_user and user is not None):
                    return bool(await hot.execute(ROTATE_SQL, *move))
                owner = owner_key(user, record.tenant_id)
                return await self._limited_login(move, self.max_per_user, owner)
            except hot.duplicate:
                raise IdTaken from None

    async def _limited_login(self, move: tuple[Any, ...], limit: int, owner: str) -> bool:
        """A login under ``SESSION_MAX_PER_USER``: :meth:`_login_steps` in one transaction on
        the per-request driver holding ``owner``; whether the row moved. A database that can
        do it in fewer round trips says so in its own store."""
        counts = await self._hot.transaction(self._login_steps(move, limit), hold=owner)
        if not counts[0]:
            return False
        self._signed_out(counts[0] - 1 + sum(counts[1:]))
        return True

    def _login_steps(self, move: tuple[Any, ...], limit: int) -> list[Step]:
        """A limited login's statements: the first moves the row (``ROTATE_SQL``'s
        parameters ``move``; its count is the row moved, plus any session it signed out
        itself, ``0`` when it did not move), the rest sign out all but the ``limit`` most
        recently used live sessions of its user in its tenant (their counts: how many),
        never the one logging in, and nothing if it did not move."""
        raise NotImplementedError

    async def _owner_count(self, keep: str) -> int:
        hot = self._hot
        with translate_errors(self.display_url, "count a user's sessions"):
            row = await hot.fetchrow(OWNER_COUNT_SQL, keep, hot.now_ts())
        return 0 if row is None else int(row[0])

    async def _delete(self, session_id: str) -> None:
        with translate_errors(self.display_url, "delete a session"):
            await self._hot.execute(DELETE_SQL, session_id)
