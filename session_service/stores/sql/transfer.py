"""The SQL stores' export and import primitives (:mod:`..._transfer` has the rules).

Export reads the table in keyset pages (``id > last ORDER BY id LIMIT n``, the primary key's
index), each page its own short read, so a million rows never sit in memory or in one long
transaction. Import writes a batch in one transaction: the batch's keys already stored are
read with their ``updated_at``, the new rows inserted and the newer ones updated (SQLite;
PostgreSQL writes the whole batch in one statement instead, :mod:`.postgres.transfer`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ...limits.storage import decode_log, encode_log
from ...records import utcnow
from .._codec import EncodedJson, decode_data
from .._errors import translate_errors
from .._transfer import CounterEntry, LimitEntry, StoredSession, TransferRules
from .admin import _LISTING_COLUMNS, SqlAdminOps
from .schema import counters_table as C
from .schema import limits_table as L
from .schema import sessions_table as T

_FIELDS = (
    "data", "expiry_date", "user_id", "tenant_id", "created_at", "updated_at",
    "ip", "user_agent", "last_seen", "handle",
)  # fmt: skip

#: Rewrites of stored rows by a newer one, keyed by the ``b_`` bind names.
_REPLACE = (
    update(T)
    .where(T.c.id == bindparam("b_key"))
    .values({name: bindparam("b_" + name) for name in _FIELDS})
)


def _values(row: StoredSession, data: str) -> dict[str, Any]:
    return {
        "id": row.key,
        "data": EncodedJson(data),
        "expiry_date": row.expiry_date,
        "user_id": row.user_id,
        "tenant_id": row.tenant_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "last_seen": row.last_seen,
        "handle": row.handle,
    }


def _stored(row: Row[Any]) -> StoredSession:
    """A row of ``_LISTING_COLUMNS`` as exported, made at once (``stored_from`` of a
    ``SessionRecord`` built first cost as much again, per row of a million). Both times are
    NOT NULL in the schema; a row without them reads as ``stored_from`` reads it."""
    key, data, expiry, user, tenant, created, updated, ip, agent, seen, handle = tuple(row)
    created = created or utcnow()
    return StoredSession(
        key, decode_data(data), expiry, created, updated or created,
        user, tenant, ip, agent, seen, handle,
    )  # fmt: skip


def _older(log: list[int], entry: LimitEntry) -> bool:
    """The stored log's newest hit is before the entry's (an empty log is older than any)."""
    return not log or log[-1] < entry.hits[-1]


class SqlTransferOps(TransferRules, SqlAdminOps):
    """Export and import on the sessions table."""

    async def _export_batches(
        self, tenant_id: str | None, batch_size: int
    ) -> AsyncIterator[list[StoredSession]]:
        after: str | None = None
        while True:
            stmt = select(*_LISTING_COLUMNS).where(T.c.expiry_date > utcnow())
            if tenant_id is not None:
                stmt = stmt.where(T.c.tenant_id == tenant_id)
            if after is not None:
                stmt = stmt.where(T.c.id > after)
            rows = await self._rows(stmt.order_by(T.c.id).limit(batch_size), "export sessions")
            if not rows:
                return
            yield [_stored(r) for r in rows]
            if len(rows) < batch_size:
                return
            after = rows[-1].id

    async def _import_batch(self, rows: list[tuple[StoredSession, str]]) -> int:
        """One transaction; a key inserted by someone else meanwhile makes it run once more
        (then that key is a stored row like any other)."""
        with translate_errors(self.display_url, "import sessions"):
            try:
                return await self._import_once(rows)
            except IntegrityError:
                return await self._import_once(rows)

    async def _import_once(self, rows: list[tuple[StoredSession, str]]) -> int:
        keys = [row.key for row, _ in rows]
        async with self._writer.begin() as conn:
            held = select(T.c.id, T.c.updated_at).where(T.c.id.in_(keys))
            stored = {r.id: r.updated_at for r in await conn.execute(held)}
            new = [_values(row, data) for row, data in rows if row.key not in stored]
            newer = [
                {("b_key" if k == "id" else "b_" + k): v for k, v in _values(row, data).items()}
                for row, data in rows
                if row.key in stored and stored[row.key] < row.updated_at
            ]
            if new:
                await conn.execute(insert(T), new)
            if newer:
                await conn.execute(_REPLACE, newer)
        return len(new) + len(newer)

    # -- rate limits and counters ----------------------------------------------------------

    async def _export_limits(self, batch_size: int) -> AsyncIterator[list[LimitEntry]]:
        after: str | None = None
        while True:
            stmt = select(L).order_by(L.c.key).limit(batch_size)
            if after is not None:
                stmt = stmt.where(L.c.key > after)
            rows = await self._rows(stmt, "export rate limits")
            if not rows:
                return
            yield [LimitEntry(r.key, decode_log(r.hits), int(r.expires_at), r.limit_count,
                              r.window_ms) for r in rows]  # fmt: skip
            if len(rows) < batch_size:
                return
            after = rows[-1].key

    async def _export_counters(self, batch_size: int) -> AsyncIterator[list[CounterEntry]]:
        after: str | None = None
        while True:
            stmt = select(C).order_by(C.c.key).limit(batch_size)
            if after is not None:
                stmt = stmt.where(C.c.key > after)
            rows = await self._rows(stmt, "export counters")
            if not rows:
                return
            yield [CounterEntry(r.key, int(r.value), r.expires_at) for r in rows]
            if len(rows) < batch_size:
                return
            after = rows[-1].key

    async def _import_limits(self, entries: list[LimitEntry], now: int) -> int:
        keys = [e.key for e in entries]
        with translate_errors(self.display_url, "import rate limits"):
            async with self._writer.begin() as conn:
                held = select(L.c.key, L.c.hits).where(L.c.key.in_(keys))
                stored = {r.key: decode_log(r.hits) for r in await conn.execute(held)}
                doomed = [
                    e for e in entries if e.key in stored and stored[e.key][-1:] < e.hits[-1:]
                ]
                todo = [e for e in entries if e.key not in stored] + doomed
                if doomed:
                    await conn.execute(delete(L).where(L.c.key.in_([e.key for e in doomed])))
                if todo:
                    await conn.execute(insert(L), [
                        {"key": e.key, "hits": encode_log(e.hits), "expires_at": e.expires_at,
                         "limit_count": e.limit, "window_ms": e.window_ms} for e in todo
                    ])  # fmt: skip
        return len(todo)

    async def _import_counters(self, entries: list[CounterEntry], now: int) -> int:
        keys = [e.key for e in entries]
        live = or_(C.c.expires_at.is_(None), C.c.expires_at > now)
        with translate_errors(self.display_url, "import counters"):
            async with self._writer.begin() as conn:
                held = select(C.c.key).where(C.c.key.in_(keys), live)
                stored = {r.key for r in await conn.execute(held)}
                todo = [e for e in entries if e.key not in stored]
                if todo:  # an expired counter of that key goes first
                    await conn.execute(delete(C).where(C.c.key.in_([e.key for e in todo])))
                    await conn.execute(insert(C), [
                        {"key": e.key, "value": e.value, "expires_at": e.expires_at} for e in todo
                    ])  # fmt: skip
        return len(todo)
