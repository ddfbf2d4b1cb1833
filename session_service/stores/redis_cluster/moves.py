"""How the cluster store writes one session where it lives (:mod:`.scripts` says the layout):
the id key is claimed or compare-and-set first, then the session written in its slot, and a
copy written where the id key no longer points is taken back. Moving a session to another
slot (signing in, a change of owner) takes it from the old slot first, so a fixated
pre-login id never survives; a failure between the steps loses that session (the user signs
in again), never resurrects one."""

from __future__ import annotations

from typing import Any

from ...lifetime_rules import earliest_start
from ...records import SessionRecord, utcnow
from ..base import IdTaken
from ..redis import scripts as S1
from ..redis.admin import to_us
from ..redis.store import RedisSessionStore, _ms
from . import scripts as S
from .client import FAILURES
from .slots import owner, slot_tag, split_member, user_slot

#: How often a write that lost a race for one id looks again.
_ATTEMPTS = 50


class ClusterWrites(RedisSessionStore):
    """Where a session lives, and the writes that put it there."""

    async def _command(self, *args: Any) -> Any:
        """One command, bounded as the store's others (the store provides it)."""
        raise NotImplementedError

    # -- where a session lives -------------------------------------------------------------

    def _id_key(self, session_id: str) -> str:
        return f"{self.key_prefix}{{{S.bucket(session_id)}}}i:{S.kesc(session_id)}"

    def _user_base(self, utag: str) -> str:
        return f"{self.key_prefix}{{{S.kesc(utag)}}}"

    # A session's location ("loc", what its id key's pointer holds after ``>``): '' the id
    # key itself (anonymous), '=<user>' its user's slot under the user's hash tag (sessions
    # filed before slot tags), '@<slot tag>=<user>' its user's slot under the slot's tag.

    def _home(self, utag: str) -> str:
        """Where a session of the user tagged ``utag`` is written when it moves or is new."""
        if not utag:
            return ""
        return "@" + slot_tag(user_slot(S.kesc(utag))) + utag

    def _key(self, session_id: str, loc: str) -> str:
        """The key of the session at ``loc``."""
        if not loc:
            return self._id_key(session_id)
        if loc[0] == "@":
            return f"{self.key_prefix}{{{loc[:4]}}}s:{S.kesc(session_id)}"
        return f"{self._user_base(loc)}s:{S.kesc(session_id)}"

    def _index(self, session_id: str, loc: str) -> str:
        """The index beside a session's key: its user's, or its id's bucket."""
        if loc:
            return self._user_base(owner(loc)) + "u"
        return f"{self.key_prefix}{{{S.bucket(session_id)}}}a"

    def _keys(self, session_id: str, loc: str) -> list[str]:
        """A session's key and the index beside it: the first two KEYS of its scripts."""
        return [self._key(session_id, loc), self._index(session_id, loc)]

    def _member_loc(self, utag: str, member: str) -> tuple[str, str, str]:
        """(tenant tag, id, loc) of a member of the user's index."""
        ttag, sid, stag = split_member(member)
        return ttag, sid, "@" + stag + utag if stag else utag

    def _id_keys(self, session_id: str) -> list[str]:
        return [self._id_key(session_id), self._index(session_id, "")]

    async def _sessions_of(self, utag: str) -> list[str]:
        """The keys of every session the user's index names now (to declare them)."""
        members = await self._command("ZRANGE", self._index("", utag), 0, -1)
        return [self._key(*self._member_loc(utag, m.decode())[1:]) for m in members]

    async def _where(self, action: str, session_id: str) -> tuple[str, str, bytes | None]:
        """(the session's key, its loc, the id key's value) as the id key says now."""
        try:
            raw = await self._command("GET", self._id_key(session_id))
        except FAILURES as exc:
            raise self._fail(action, exc) from exc
        if raw is not None and raw[:1] == b">":
            loc = raw[1:].decode()
            return self._key(session_id, loc), loc, raw
        return self._id_key(session_id), "", raw

    async def stored_key(self, session_id: str) -> str:
        """The key holding the session's value now (for tests and tools)."""
        return (await self._where("find a session", session_id))[0]

    async def _point(self, action: str, session_id: str, loc: str, exp_ms: Any) -> bool:
        """After a write in the user's slot: the id key's expiry follows the session's, if it
        still points there; if not (the session was moved or deleted meanwhile), the copy just
        written goes, so no session is left that its id does not find. Whether it pointed."""
        pointer = ">" + loc
        key = self._id_key(session_id)
        keys = [key, self._index(session_id, "")]
        if int(await self._call(action, S.POINT, keys, pointer, exp_ms, session_id)):
            return True
        await self._call(action, S.TAKE, self._keys(session_id, loc), session_id, "")
        return False

    async def _put(
        self,
        mode: str,
        record: SessionRecord,
        data: str,
        extend: bool,
        loc: str,
        carried: Any = "",
        pointer: str = "",
    ) -> tuple[int, Any]:
        """The ``WRITE`` script at ``loc`` (in the record's owner's slot): (code, expiry ms)."""
        args = self._args(record, data)
        rest = (*args[:5], "1" if extend else "0", *args[5:], self.max_per_user)
        utag = args[3]
        for _ in range(_ATTEMPTS):
            keys = self._keys(record.id, loc)
            if self.max_per_user and utag:  # the cap reads the user's other sessions
                keys += await self._sessions_of(utag)
            done = await self._call(f"{mode} a session", S.WRITE, keys, mode, record.id, *rest,
                                    carried, pointer)  # fmt: skip
            if int(done[0]) != 3:
                if len(done) > 2:  # written: and the sessions the limit signed out
                    self._signed_out(int(done[2]))
                return int(done[0]), done[1] if len(done) > 1 else None
        return 0, None

    async def _take(self, action: str, session_id: str, loc: str, leave: str) -> Any:
        """Take the live session from its key at ``loc`` ('' its id key), leaving ``leave``
        there ('' nothing); its value, or ``None``."""
        value = await self._call(action, S.TAKE, self._keys(session_id, loc), session_id, leave)
        return value if value else None

    async def _aim(
        self, record: SessionRecord, loc: str, new: bool = False, pointer: str = ""
    ) -> bool:
        """Claim the free id key for a session at ``loc``; ``new``: an id an expired session
        not yet cleaned still holds is taken too."""
        exp_ms = max(_ms(to_us(record.expiry_date)), 1)
        claim = pointer or ">" + loc
        flag = "1" if new else "0"
        return bool(
            await self._run(S.CLAIM, self._id_keys(record.id), claim, exp_ms, record.id, flag)
        )

    async def _insert(self, record: SessionRecord, data: str) -> None:
        """The id key is claimed first (``SET NX``), then the session written where it lives."""
        loc = self._home(S1.user_tag(record.user_id))
        try:
            if loc and not await self._aim(record, loc, new=True):
                raise IdTaken
            code, exp = await self._put("create", record, data, True, loc)
        except FAILURES as exc:
            raise self._fail("create a session", exc) from exc
        if code != 1:
            if loc:
                await self._drop_id("create a session", record.id, ">" + loc)
            raise IdTaken
        if loc and not await self._point("create a session", record.id, loc, exp):
            raise IdTaken

    async def _save_or_update(
        self, mode: str, record: SessionRecord, data: str, extend: bool
    ) -> bool:
        """Written where the record's owner puts it. Every change of the id key is a
        compare-and-set (claim when free, repoint from the slot seen), and a copy written
        where the id key no longer points is taken back, so racing writers of one id (even
        with different owners) leave one whole version; a writer that lost a race looks
        again (someone else made progress each time)."""
        action = f"{mode} a session"
        utag = S1.user_tag(record.user_id)
        home = self._home(utag)
        try:
            for _ in range(_ATTEMPTS):
                _, now_tag, raw = await self._where(action, record.id)
                carried: Any = ""
                pointer = ""
                loc = home  # a session staying with its user stays where it is filed
                if raw is None:
                    if mode == "update":
                        return False
                    if utag and not await self._aim(record, loc):
                        continue
                elif owner(now_tag) != utag:
                    leave = ">" + loc if utag and not now_tag else ""
                    carried = await self._take(action, record.id, now_tag, leave)
                    if carried is None and mode == "update":
                        return False
                    if now_tag and utag:
                        moved = await self._call(action, S.REPOINT, self._id_keys(record.id),
                                                 ">" + now_tag, ">" + loc)  # fmt: skip
                        if not int(moved):
                            continue
                    pointer = ">" + now_tag if now_tag else ""
                    carried = carried or ""
                else:
                    loc = now_tag
                code, exp = await self._put(mode, record, data, extend, loc, carried, pointer)
                if code == 2:  # its owner changed meanwhile: look again
                    continue
                if code == 1 and utag and not await self._point(action, record.id, loc, exp):
                    if mode == "update":
                        continue
                    return True  # another writer's version, written after, stands
                if code == 0 and mode == "update" and carried == "":
                    again = await self._where(action, record.id)
                    if again[1] != now_tag and again[2] is not None:
                        continue
                return code == 1
        except FAILURES as exc:
            raise self._fail(action, exc) from exc
        return False

    async def _save(self, record: SessionRecord, data: str) -> None:
        await self._save_or_update("save", record, data, True)

    async def _update(self, record: SessionRecord, data: str, extend_expiry: bool) -> bool:
        return await self._save_or_update("update", record, data, extend_expiry)

    async def _rotate(self, old_id: str, record: SessionRecord, data: str) -> bool:
        action = "rotate a session id"
        args = self._args(record, data)
        utag = args[3]
        loc = self._home(utag)
        old_key, old_tag, raw = await self._where(action, old_id)
        if raw is None:
            return False
        claim = ">" + loc  # '>' alone: held for the anonymous session
        try:
            if not await self._aim(record, loc, new=True, pointer=claim):
                raise IdTaken
        except FAILURES as exc:
            raise self._fail(action, exc) from exc
        start = earliest_start(self.absolute_ttl, utcnow())
        tail = (*args, self.max_per_user)
        try:
            same = bool(old_tag) and owner(old_tag) == utag  # within one user: one script
            taken = None if same else await self._take(action, old_id, old_tag, "")
            done = 0
            for _ in range(_ATTEMPTS if same or taken is not None else 0):
                keys = self._keys(record.id, loc) + ([old_key] if same else [])
                if self.max_per_user and utag:
                    keys += await self._sessions_of(utag)
                done = int(await self._call(action, S.ROTATE, keys, old_id, record.id, *tail,
                                            taken or "", "1" if same else "0",
                                            0 if start is None else to_us(start)))  # fmt: skip
                if done != -2:
                    break
        except BaseException:
            await self._drop_id(action, record.id, claim)
            raise
        if done < 1:
            await self._drop_id(action, record.id, claim)
            return False
        self._signed_out(done - 1)
        if old_tag:
            await self._drop_id(action, old_id, ">" + old_tag)
        if loc:
            await self._point(action, record.id, loc, max(args[1], 1))
        return True

    async def _drop_id(self, action: str, session_id: str, expected: str) -> None:
        await self._call(action, S.DROP_ID, self._id_keys(session_id), expected, session_id)

    async def _delete(self, session_id: str) -> None:
        action = "delete a session"
        _, loc, raw = await self._where(action, session_id)
        if raw is None:
            return
        if loc:
            await self._call(action, S.TAKE, self._keys(session_id, loc), session_id, "")
            expected = ">" + loc
        else:
            expected = ""
        found = await self._call(action, S.DROP_ID, self._id_keys(session_id), expected, session_id)
        if isinstance(found, bytes):  # it was signed in meanwhile: delete it there too
            await self._call(action, S.TAKE, self._keys(session_id, found[1:].decode()),
                             session_id, "")  # fmt: skip
            await self._drop_id(action, session_id, found.decode())
