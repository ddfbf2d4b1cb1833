"""The cluster store's export and import primitives (:mod:`..._transfer` has the rules, and
:mod:`.scripts` the key layout).

Export visits every primary with ``SCAN`` (as the admin side does, :mod:`.admin`), a batch
of keys at a time, reading each batch's values with one ``MGET`` per slot. Import writes each
session where the store's own writes put it (:mod:`.moves`): an anonymous one at its id key,
a signed-in one in its user's slot with the id key pointing there (claimed first, its expiry
following the session's after). The newer-wins comparison is in the script that writes,
atomic, when the stored copy is in the slot the row goes to (the usual case: same owner);
when the stored copy lives in another slot (the row changes the session's owner) it is read,
compared, then taken in steps, as a change of owner moves a session on the cluster.

Rate limits and counters: each key one slot, exported with ``SCAN`` on every primary as on one
node. The cluster keeps no log's numbers (limit, window: their key would lie in another slot,
:mod:`..redis.limits`), so its exports carry none, and an import writes the log alone.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ...records import utcnow
from .._transfer import LimitEntry, StoredSession, stored_from
from ..redis import scripts as S1
from ..redis.admin import to_us
from ..redis.transfer import import_body
from . import scripts as S
from .client import FAILURES
from .moves import _ATTEMPTS, ClusterWrites
from .prelude import _script
from .slots import owner

#: What IMPORT answers when the key it would write holds the id key's pointer.
_ELSEWHERE = 2

# KEYS[1] where the session goes (its id key, or its key in its user's slot), KEYS[2] the
# index there; ARGV[5..] id, exp_us, exp_ms, created_us, updated_us, tenant tag, user tag,
# ip, user agent, last_seen_us, handle, data. 1 written, 0 kept (stored as new or newer, or
# expired), 2 the key holds a pointer (the session is signed in: the caller moves it first).
IMPORT = _script(
    "import", import_body("if old and string.sub(old, 1, 1) == '>' then return 2 end\n")
)

# KEYS[1] a rate limit's log; ARGV[5..] hit times newest first, then expires_at (ms).
# Written (1) unless the stored log's newest hit is as new.
_IMPORT_LOG = r"""
local n = #ARGV - 1
local newest = redis.call('LINDEX', KEYS[1], 0)
if newest and tonumber(newest) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
for i = n, 1, -1 do redis.call('LPUSH', KEYS[1], ARGV[i]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[n + 1])
return 1
"""


def _newer_stored(value: bytes | None, updated_us: int, now_us: int) -> bool:
    """Whether ``value`` (a stored session) is live and written as late as ``updated_us``."""
    if value is None or value[:1] == b">":
        return False
    parts = value.split(b"\0", 4)
    return int(parts[1]) > now_us and int(parts[3]) >= updated_us


class ClusterTransferOps(ClusterWrites):
    """Export and import on a Redis Cluster (the single-node twins: :mod:`..redis.transfer`);
    the store puts :class:`~.admin.ClusterAdminOps` before it, whose walk it uses."""

    if TYPE_CHECKING:

        def _batches(self) -> AsyncIterator[list[tuple[str, re.Match[str]]]]: ...

        async def _values(
            self, batch: list[tuple[str, re.Match[str]]]
        ) -> list[tuple[str, str, str, bytes]]: ...

    async def _export_batches(
        self, tenant_id: str | None, batch_size: int
    ) -> AsyncIterator[list[StoredSession]]:
        want = None if tenant_id is None else S1.tenant_tag(tenant_id)
        pending: list[StoredSession] = []
        try:
            async for found in self._batches():
                now = to_us(utcnow())
                for _, sid, _, value in await self._values(found):
                    if want is not None and value.split(b"\0", 5)[4].decode() != want:
                        continue
                    record = self._record(sid, value, now)
                    if record is None:
                        continue
                    pending.append(stored_from(record))
                    if len(pending) >= batch_size:
                        yield pending
                        pending = []
            if pending:
                yield pending
        except FAILURES as exc:
            raise self._fail("export sessions", exc) from exc

    async def _import_batch(self, rows: list[tuple[StoredSession, str]]) -> int:
        written = 0
        for row, data in rows:  # each session its own steps, as a write of the app's
            written += await self._import_one(row, data)
        return written

    async def _import_one(self, row: StoredSession, data: str) -> int:
        action = "import sessions"
        sid, utag = row.key, S1.user_tag(row.user_id)
        exp = to_us(row.expiry_date)
        exp_ms = -(-exp // 1000)
        updated = to_us(row.updated_at)
        seen = "" if row.last_seen is None else str(to_us(row.last_seen))
        args = (sid, exp, exp_ms, to_us(row.created_at), updated, S1.tenant_tag(row.tenant_id),
                utag, row.ip or "", row.user_agent or "", seen, row.handle or "", data)  # fmt: skip
        home = self._home(utag)
        try:
            for _ in range(_ATTEMPTS):
                where, now_tag, raw = await self._where(action, sid)
                loc = home
                if raw is None:
                    if utag and not await self._claim_for(sid, loc, exp_ms):
                        continue  # written meanwhile: look again
                elif owner(now_tag) != utag:  # stored in another slot: compare, then move it
                    stored = await self._command("GET", where) if now_tag else raw
                    if _newer_stored(stored, updated, to_us(utcnow())):
                        return 0
                    leave = ">" + loc if utag and not now_tag else ""
                    await self._take(action, sid, now_tag, leave)
                    if now_tag and utag:
                        moved = await self._call(action, S.REPOINT, self._id_keys(sid),
                                                 ">" + now_tag, ">" + loc)  # fmt: skip
                        if not int(moved):
                            continue
                    elif now_tag:
                        await self._drop_id(action, sid, ">" + now_tag)
                else:
                    loc = now_tag  # staying with its user: where it is filed
                code = int(await self._call(action, IMPORT, self._keys(sid, loc), *args))
                if code == _ELSEWHERE:
                    continue
                if code == 1 and utag and not await self._point(action, sid, loc, exp_ms):
                    continue  # moved or deleted meanwhile: the copy went back; look again
                return code
        except FAILURES as exc:
            raise self._fail(action, exc) from exc
        return 0

    async def _claim_for(self, sid: str, loc: str, exp_ms: int) -> bool:
        """The free id key, claimed as a pointer to ``loc`` in the user's slot."""
        claim = await self._run(S.CLAIM, self._id_keys(sid), ">" + loc, max(exp_ms, 1), sid, "0")
        return bool(claim)

    # -- rate limits: the log alone (the cluster keeps no numbers) ---------------------------

    async def _import_limits(self, entries: list[LimitEntry], now: int) -> int:
        prefix = self.key_prefix + "limit:"
        written = 0
        try:
            for e in entries:
                args: list[Any] = [*reversed(e.hits), e.expires_at]
                written += int(await self.client.eval(_IMPORT_LOG, 1, prefix + e.key, *args))
        except FAILURES as exc:
            raise self._fail("import rate limits", exc) from exc
        return written
