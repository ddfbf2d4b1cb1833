"""The SQL session store: every method of the store contract, written once for both dialects.

:class:`SqliteSessionStore` and :class:`PgSessionStore` are this class with a different
:data:`kind`; the few lines where the dialects differ live in :mod:`._dialects`.

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Self

from sqlalchemy import (
    ColumnElement,
    Row,
    RowMapping,
    and_,
    delete,
    false,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from . import migrate as _migrate
from ._codec import decode_data, encode_data, json_serializer
from ._dialects import CLEANUP_LOCK_KEY, WRITE_OPTION, hot_path, make_engine
from ._errors_map import translate_errors
from .errors import SessionDataError
from .records import SessionRecord, new_session_id, user_id_of, utcnow
from .schema import ID_LENGTH, PRINCIPAL_LENGTH
from .schema import sessions_table as T
from .settings import StoreKind, mask_url, normalize_db_url

#: Rows deleted per transaction by the batched deletes.
DEFAULT_BATCH_SIZE = 5000
_CREATE_ATTEMPTS = 5
_ROW_COLUMNS = (T.c.id, T.c.data, T.c.expiry_date, T.c.user_id, T.c.tenant_id)
_LISTING_COLUMNS = (*_ROW_COLUMNS, T.c.created_at, T.c.updated_at)

ProgressCallback = Callable[[int], None]

# The hot statements: one session by id, each one autocommit statement run straight on the
# driver by ``._dialects``' hot path (``$n`` parameters; SQLite reads them as ``?n``).
_LOAD_SQL = (
    f"SELECT id, data, expiry_date, user_id, tenant_id FROM {T.name} "
    "WHERE id = $1 AND expiry_date > $2"
)
_INSERT_SQL = (
    f"INSERT INTO {T.name} (id, data, expiry_date, user_id, tenant_id, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (id) DO "
)
_CREATE_SQL = _INSERT_SQL + "NOTHING"
_SAVE_SQL = _INSERT_SQL + (
    "UPDATE SET data = excluded.data, expiry_date = excluded.expiry_date, "
    "user_id = excluded.user_id, tenant_id = excluded.tenant_id, updated_at = excluded.updated_at"
)
_UPDATE_SQL = (
    f"UPDATE {T.name} SET data = $2, expiry_date = $3, user_id = $4, updated_at = $5 "
    "WHERE id = $1 AND expiry_date > $5"
)
_TOUCH_SQL = (
    f"UPDATE {T.name} SET expiry_date = $2, updated_at = $3 WHERE id = $1 AND expiry_date > $3"
)
_DELETE_SQL = f"DELETE FROM {T.name} WHERE id = $1"


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What ``session-service stats`` shows: counts over the whole table."""

    total: int
    live: int
    expired: int
    distinct_users: int
    per_tenant: dict[str | None, int] = field(default_factory=dict)


def _storable(value: str) -> bool:
    """Whether both databases can hold ``value``: PostgreSQL text cannot hold NUL, and an
    unpaired surrogate is not UTF-8. Checked here so both backends refuse (on write) or miss
    (on read) the same strings instead of PostgreSQL failing as if the database were down."""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_text(what: str, value: str | None, limit: int) -> None:
    if value is None:
        return
    if len(value) > limit:
        raise SessionDataError(f"{what} is {len(value)} characters long, over the limit of {limit}")
    if not _storable(value):
        raise SessionDataError(f"{what} cannot contain NUL characters or unpaired surrogates")


def _matches(column: Any, value: str) -> ColumnElement[bool]:
    """``column = value``, or a condition no row meets when no row can hold ``value``."""
    return column == value if _storable(value) else false()


def _record(mapping: RowMapping) -> SessionRecord:
    return SessionRecord(
        id=mapping["id"],
        data=decode_data(mapping["data"]),
        expiry_date=mapping["expiry_date"],
        user_id=mapping["user_id"],
        tenant_id=mapping["tenant_id"],
        created_at=mapping.get("created_at"),
        updated_at=mapping.get("updated_at"),
    )


class SqlSessionStore:
    """Sessions in one SQL table, through SQLAlchemy 2 async Core."""

    kind: ClassVar[StoreKind]

    def __init__(
        self,
        url: str,
        *,
        engine: AsyncEngine | None = None,
        max_bytes: int | None = None,
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
            self._engine = engine or make_engine(kind, normalized, **engine_options)
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        self._hot = hot_path(kind, normalized)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display_url!r})"

    @classmethod
    async def connect(cls, url: str, **options: Any) -> Self:
        """Open the store and check that the database answers."""
        store = cls(url, **options)
        await store.ping()
        return store

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

    async def close(self) -> None:
        """Release every pooled connection. The store can still be used afterwards."""
        await self._hot.close()
        await self._engine.dispose()

    # -- one session ---------------------------------------------------------------------

    def _values(self, record: SessionRecord, now: datetime) -> dict[str, Any]:
        _check_text("the session id", record.id, ID_LENGTH)
        _check_text("tenant_id", record.tenant_id, PRINCIPAL_LENGTH)
        user_id = user_id_of(record.data)
        _check_text("session['user_id']", user_id, PRINCIPAL_LENGTH)
        record.user_id = user_id
        return {
            "data": encode_data(record.data, self.max_bytes),
            "expiry_date": record.expiry_date,
            "user_id": record.user_id,
            "updated_at": now,
        }

    async def load(self, session_id: str) -> SessionRecord | None:
        """The live session with this id, or ``None`` when missing or expired."""
        if not _storable(session_id):
            return None
        hot = self._hot
        with translate_errors(self.display_url, "load a session"):
            row = await hot.fetchrow(_LOAD_SQL, session_id, hot.ts(utcnow()))
        if row is None:
            return None
        sid, data, expiry, user_id, tenant_id = row
        return SessionRecord(sid, decode_data(data), hot.parse_ts(expiry), user_id, tenant_id)

    def _args(self, record: SessionRecord, now: datetime) -> tuple[Any, ...]:
        """``$1``-``$6`` of the insert statements: id, data, expiry, user, tenant, now."""
        values, ts = self._values(record, now), self._hot.ts
        return (record.id, str(values["data"]), ts(record.expiry_date), record.user_id,
                record.tenant_id, ts(now))  # fmt: skip

    async def create(self, record: SessionRecord) -> SessionRecord:
        """Insert a new session; if its id is taken, use a fresh id (set on ``record``)."""
        args = self._args(record, utcnow())
        with translate_errors(self.display_url, "create a session"):
            for _ in range(_CREATE_ATTEMPTS):
                if await self._hot.execute(_CREATE_SQL, record.id, *args[1:]) == 1:
                    return record
                record.id = new_session_id()
        raise RuntimeError("could not find a free session id; the random source is broken")

    async def save(self, record: SessionRecord) -> None:
        """Insert or update ``record`` in one statement (``user_id`` follows ``data``)."""
        args = self._args(record, utcnow())
        with translate_errors(self.display_url, "save a session"):
            await self._hot.execute(_SAVE_SQL, *args)

    async def update(self, record: SessionRecord) -> bool:
        """Write ``record`` only if its row still exists and is live; ``False`` if it does not.

        This is what the middleware uses, so a session revoked while a request held it stays
        revoked instead of being re-inserted by that request's save.
        """
        sid, data, expiry, user_id, _tenant, now = self._args(record, utcnow())
        with translate_errors(self.display_url, "save a session"):
            return bool(await self._hot.execute(_UPDATE_SQL, sid, data, expiry, user_id, now))

    async def touch(self, session_id: str, expiry_date: datetime) -> bool:
        """Extend a live session's expiry without rewriting its data; ``False`` if it is gone."""
        if not _storable(session_id):
            return False
        hot = self._hot
        expiry, now = hot.ts(expiry_date), hot.ts(utcnow())
        with translate_errors(self.display_url, "extend a session"):
            return bool(await hot.execute(_TOUCH_SQL, session_id, expiry, now))

    async def rotate(self, old_id: str, record: SessionRecord) -> bool:
        """Move a live session to ``record.id`` (login: ``cycle_id``) in one statement.

        An ``UPDATE`` of the row's id, not a delete plus an insert: a concurrent
        ``clear_sessions_for_user`` that is waiting on the row then re-checks the moved row
        and deletes it too, instead of missing a freshly inserted one. Returns ``False`` (and
        writes nothing) if the old session had been revoked meanwhile.
        """
        now = utcnow()
        values = self._values(record, now)
        if not _storable(old_id):
            return False
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
        if not _storable(session_id):
            return
        with translate_errors(self.display_url, "delete a session"):
            await self._hot.execute(_DELETE_SQL, session_id)

    # -- by user, by tenant, everything ----------------------------------------------------

    @staticmethod
    def _owned_by(user_id: str | int, tenant_id: str | None) -> ColumnElement[bool]:
        cond = _matches(T.c.user_id, str(user_id))
        return cond if tenant_id is None else and_(cond, _matches(T.c.tenant_id, tenant_id))

    async def clear_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int:
        """Delete every session of ``user_id`` (in one tenant, or all); returns how many."""
        stmt = delete(T).where(self._owned_by(user_id, tenant_id))
        with translate_errors(self.display_url, "clear a user's sessions"):
            async with self._writer.begin() as conn:
                return int((await conn.execute(stmt)).rowcount)

    async def count_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int:
        """How many live sessions ``user_id`` has."""
        stmt = select(func.count()).where(self._owned_by(user_id, tenant_id), self._live())
        return int(await self._scalar(stmt, "count a user's sessions"))

    async def get_session_ids_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[str]:
        """The ids of ``user_id``'s live sessions, oldest first."""
        stmt = (
            select(T.c.id)
            .where(self._owned_by(user_id, tenant_id), self._live())
            .order_by(T.c.created_at, T.c.id)
        )
        rows = await self._rows(stmt, "list a user's sessions")
        return [row[0] for row in rows]

    async def list_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[SessionRecord]:
        """``user_id``'s live sessions with their timestamps, oldest first (for listings)."""
        stmt = (
            select(*_LISTING_COLUMNS)
            .where(self._owned_by(user_id, tenant_id), self._live())
            .order_by(T.c.created_at, T.c.id)
        )
        return [_record(r._mapping) for r in await self._rows(stmt, "list a user's sessions")]

    async def dump_all_sessions(self, *, tenant_id: str | None = None) -> list[SessionRecord]:
        """Every live session (of one tenant), for debugging; not for large tables."""
        stmt = select(*_LISTING_COLUMNS).where(self._live()).order_by(T.c.created_at, T.c.id)
        if tenant_id is not None:
            stmt = stmt.where(_matches(T.c.tenant_id, tenant_id))
        return [_record(r._mapping) for r in await self._rows(stmt, "dump sessions")]

    async def clear_all_sessions(
        self,
        *,
        tenant_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Delete every session (of one tenant) in batches; returns how many."""
        cond = None if tenant_id is None else _matches(T.c.tenant_id, tenant_id)
        return await self._delete_batched(cond, batch_size, on_progress, "clear sessions")

    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int:
        """Delete expired sessions in batches of ``batch_size``; returns how many."""
        cond = T.c.expiry_date <= utcnow()
        return await self._delete_batched(cond, batch_size, on_progress, "delete expired sessions")

    async def delete_expired_if_leader(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
        """:meth:`delete_expired` on one instance at a time; ``None`` if another is cleaning.

        PostgreSQL: a session-level advisory lock held for the run. SQLite lives on one
        machine and its batches already serialize on the file lock, so it always cleans.
        """
        if self.kind != "postgres":
            return await self.delete_expired(batch_size=batch_size)
        with translate_errors(self.display_url, "take the cleanup lock"):
            async with self._engine.connect() as lock_conn:
                locked = await lock_conn.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": CLEANUP_LOCK_KEY}
                )
                await lock_conn.commit()
                if not locked:
                    return None
                try:
                    return await self.delete_expired(batch_size=batch_size)
                finally:
                    await lock_conn.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": CLEANUP_LOCK_KEY}
                    )
                    await lock_conn.commit()

    async def stats(self) -> StoreStats:
        """Totals for the operator: all rows, live, expired, distinct users, per tenant."""
        now = utcnow()
        live = T.c.expiry_date > now
        totals = select(
            func.count(),
            func.count().filter(live),
            func.count(func.distinct(T.c.user_id)).filter(live),
        )
        per_tenant = select(T.c.tenant_id, func.count()).where(live).group_by(T.c.tenant_id)
        with translate_errors(self.display_url, "compute statistics"):
            async with self._engine.connect() as conn:
                total, n_live, users = (await conn.execute(totals)).one()
                tenants = {row[0]: int(row[1]) for row in await conn.execute(per_tenant)}
        return StoreStats(
            total=int(total),
            live=int(n_live),
            expired=int(total) - int(n_live),
            distinct_users=int(users),
            per_tenant=tenants,
        )

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _live() -> ColumnElement[bool]:
        return T.c.expiry_date > utcnow()

    async def _scalar(self, stmt: Any, action: str) -> Any:
        with translate_errors(self.display_url, action):
            async with self._engine.connect() as conn:
                return await conn.scalar(stmt)

    async def _rows(self, stmt: Any, action: str) -> Sequence[Row[Any]]:
        with translate_errors(self.display_url, action):
            async with self._engine.connect() as conn:
                return (await conn.execute(stmt)).all()

    async def _delete_batched(
        self,
        cond: ColumnElement[bool] | None,
        batch_size: int,
        on_progress: ProgressCallback | None,
        action: str,
    ) -> int:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        ids = select(T.c.id).limit(batch_size)
        if cond is not None:
            ids = ids.where(cond)
        stmt = delete(T).where(T.c.id.in_(ids.scalar_subquery()))
        total = 0
        with translate_errors(self.display_url, action):
            while True:
                async with self._writer.begin() as conn:
                    deleted = int((await conn.execute(stmt)).rowcount)
                total += deleted
                if on_progress is not None and deleted:
                    on_progress(total)
                if deleted < batch_size:
                    return total
