"""Hostile strings are data: quotes, SQL, LIKE wildcards, glob and key-separator characters,
backslashes, unicode and long ids each round-trip exactly and match only themselves. What no
store can hold (NUL, unpaired surrogates, ids longer than the limits) is refused alike:
``SessionDataError`` on write, "not found" on read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ..backend import SessionStoreBackend
from ..errors import SessionDataError
from ..records import utcnow
from ..storable import ID_LENGTH, PRINCIPAL_LENGTH
from ._harness import ContractCase
from ._records import new_record

HOSTILE = [
    "O'Brien",
    'say "hi"',
    "'; DROP TABLE sessions; --",
    '"; DELETE FROM sessions WHERE "1"="1',
    "100%",
    "%",
    "_",
    "a_c",
    "a%c",
    "back\\slash\\",
    "\\'",
    "\\x00 is not a NUL",
    "\\u0000 is not a NUL either",
    "\\\\u0000 nor this",
    "$1",
    "?",
    ":user_id",
    "%(user_id)s",
    "{0}",
    "🎉 👩‍👩‍👧 emoji",
    "עברית מימין לשמאל",
    "abc\u202edcba",
    "line\nbreak\ttab\rreturn",
    "  spaced  ",
    "ß≠ss",
    "u" * PRINCIPAL_LENGTH,
]

UNSTORABLE = ["nul\x00byte", "lone\ud800surrogate", "\udcff"]

HOSTILE_IDS = ["*", "?", "[a-z]*", "*?[]:{}", "s:*", "{tag}", "a\x00b", "x" * 10_240, ":"]


async def _table_survives(backend: SessionStoreBackend, expected_total: int) -> None:
    canary = new_record({"canary": True})
    await backend.save(canary)
    assert await backend.load(canary.id) is not None
    assert (await backend.stats()).total == expected_total + 1


class HostileInputRules(ContractCase):
    """Injection-shaped ids and data, and what cannot be stored at all."""

    async def test_hostile_user_and_tenant_ids_round_trip(
        self, backend: SessionStoreBackend
    ) -> None:
        for value in HOSTILE:
            record = new_record({"user_id": value, "note": value}, tenant_id=value)
            await backend.save(record)
            loaded = await backend.load(record.id)
            assert loaded is not None, value
            assert (loaded.user_id, loaded.tenant_id) == (value, value)
            assert loaded.data == {"user_id": value, "note": value}
            assert await backend.count_sessions_for_user(value) == 1, value
            assert await backend.count_sessions_for_user(value, tenant_id=value) == 1, value
            assert await backend.get_session_ids_for_user(value, tenant_id=value) == [record.handle]
            assert [r.handle for r in await backend.dump_all_sessions(tenant_id=value)] == [
                record.handle
            ]
            assert (await backend.stats()).per_tenant == {value: 1}, value
            await _table_survives(backend, expected_total=1)
            assert await backend.clear_sessions_for_user(value, tenant_id=value) == 1, value
            assert await backend.load(record.id) is None
            assert await backend.clear_all_sessions() == 1  # the canary

    async def test_hostile_session_ids_round_trip(self, backend: SessionStoreBackend) -> None:
        for value in [*HOSTILE, "s" * ID_LENGTH]:
            sid = value[:ID_LENGTH]
            record = new_record({"k": value}, sid=sid)
            await backend.save(record)
            loaded = await backend.load(sid)
            assert loaded is not None, value
            assert loaded.id == sid
            assert loaded.data == {"k": value}
            assert await backend.touch(sid, utcnow() + timedelta(days=1)) is True, value
            await _table_survives(backend, expected_total=1)
            await backend.delete(sid)
            assert await backend.load(sid) is None, value
            assert await backend.clear_all_sessions() == 1  # only the canary was left

    async def test_hostile_strings_in_data_round_trip(self, backend: SessionStoreBackend) -> None:
        saved = {}
        for value in HOSTILE:
            data: dict[str, Any] = {value: value, "list": [value, {value: [value]}]}
            record = new_record(data)
            await backend.save(record)
            saved[record.id] = data
        for sid, data in saved.items():
            loaded = await backend.load(sid)
            assert loaded is not None
            assert loaded.data == data
        await _table_survives(backend, expected_total=len(HOSTILE))

    async def test_like_wildcards_in_user_ids_match_only_themselves(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        for user in ("abc", "a_c", "aXc", "a%c", "abbc", "A_C"):
            await backend.save(new_record({"user_id": user}, tenant_id=user))
        assert await backend.count_sessions_for_user("a_c") == 1
        assert await backend.count_sessions_for_user("a%c") == 1
        assert await backend.count_sessions_for_user("%") == 0
        assert await backend.count_sessions_for_user("_") == 0
        assert await backend.count_sessions_for_user("abc", tenant_id="a_c") == 0
        assert [r.user_id for r in await backend.dump_all_sessions(tenant_id="a_c")] == ["a_c"]
        assert await backend.clear_sessions_for_user("a_c") == 1
        assert await backend.clear_sessions_for_user("a%c") == 1
        assert await backend.clear_all_sessions(tenant_id="a%") == 0
        survivors = sorted(str(r.user_id) for r in await backend.dump_all_sessions())
        assert survivors == ["A_C", "aXc", "abbc", "abc"]

    async def test_user_ids_are_case_and_space_sensitive(
        self, backend: SessionStoreBackend
    ) -> None:
        await backend.save(new_record({"user_id": "Alice"}))
        await backend.save(new_record({"user_id": "alice "}))
        assert await backend.count_sessions_for_user("alice") == 0
        assert await backend.count_sessions_for_user("Alice") == 1
        assert await backend.count_sessions_for_user("alice ") == 1

    async def test_unstorable_text_in_data_is_refused_and_nothing_written(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        for value in UNSTORABLE:
            with pytest.raises(SessionDataError, match="bad_key"):
                await backend.save(new_record({"fine": 1, "bad_key": value}))
            with pytest.raises(SessionDataError, match="bad_key"):
                await backend.save(new_record({"bad_key": {"nested": [value]}}))
            with pytest.raises(SessionDataError):
                await backend.create(new_record({value: 1}))
        assert (await backend.stats()).total == 0

    async def test_unstorable_user_tenant_or_session_id_is_refused_and_nothing_written(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        for value in UNSTORABLE:
            with pytest.raises(SessionDataError):
                await backend.save(new_record({"user_id": value}))
            with pytest.raises(SessionDataError, match="tenant_id"):
                await backend.save(new_record({"k": 1}, tenant_id=value))
            with pytest.raises(SessionDataError, match="session id"):
                await backend.save(new_record({"k": 1}, sid=value))
            with pytest.raises(SessionDataError, match="tenant_id"):
                await backend.create(new_record({"k": 1}, tenant_id=value))
        assert (await backend.stats()).total == 0

    async def test_unstorable_lookup_keys_find_nothing(self, backend: SessionStoreBackend) -> None:
        record = new_record({"user_id": "alice"}, tenant_id="acme")
        await backend.save(record)
        for value in UNSTORABLE:
            assert await backend.load(value) is None
            await backend.delete(value)
            assert await backend.touch(value, utcnow() + timedelta(days=1)) is False
            assert await backend.rotate(value, new_record({"k": 1})) is False
            assert await backend.count_sessions_for_user(value) == 0
            assert await backend.get_session_ids_for_user(value) == []
            assert await backend.list_sessions_for_user("alice", tenant_id=value) == []
            assert await backend.clear_sessions_for_user(value) == 0
            assert await backend.clear_sessions_for_user("alice", tenant_id=value) == 0
            assert await backend.dump_all_sessions(tenant_id=value) == []
            assert await backend.clear_all_sessions(tenant_id=value) == 0
        assert await backend.load(record.id) is not None
        assert (await backend.stats()).total == 1

    async def test_ids_longer_than_their_columns_are_refused_alike(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        too_long_user = "u" * (PRINCIPAL_LENGTH + 1)
        with pytest.raises(SessionDataError, match="user_id"):
            await backend.save(new_record({"user_id": too_long_user}))
        with pytest.raises(SessionDataError, match="tenant"):
            await backend.save(new_record({"k": 1}, tenant_id="t" * (PRINCIPAL_LENGTH + 1)))
        with pytest.raises(SessionDataError, match="session id"):
            await backend.save(new_record({"k": 1}, sid="s" * (ID_LENGTH + 1)))
        assert (await backend.stats()).total == 0
        assert await backend.load("s" * 1000) is None
        assert await backend.count_sessions_for_user(too_long_user) == 0

    @pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=lambda s: repr(s[:12]))
    async def test_hostile_ids_read_as_missing(
        self, backend: SessionStoreBackend, hostile: str
    ) -> None:
        live = new_record({"user_id": "alice"})
        await backend.save(live)
        assert await backend.load(hostile) is None
        assert await backend.touch(hostile, utcnow() + timedelta(days=1)) is False
        assert await backend.rotate(hostile, new_record({"k": 1})) is False
        await backend.delete(hostile)
        assert await backend.clear_sessions_for_user(hostile) == 0
        assert await backend.count_sessions_for_user("alice", tenant_id=hostile) == 0
        assert await backend.clear_all_sessions(tenant_id=hostile) == 0
        assert await backend.load(live.id) is not None
        assert await backend.count_sessions_for_user("alice") == 1

    async def test_separators_in_tenant_and_user_ids_never_collide(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        first = new_record({"user_id": "c"}, tenant_id="a:b")
        second = new_record({"user_id": "b:c"}, tenant_id="a")
        third = new_record({"user_id": "c%3A"}, tenant_id="a%3Ab")
        fourth = new_record({"user_id": "c"}, tenant_id="a:=b")  # "=" marks a part on Redis
        fifth = new_record({"user_id": "b:=c"}, tenant_id="a")
        for record in (first, second, third, fourth, fifth):
            await backend.save(record)
        assert await backend.get_session_ids_for_user("b:=c", tenant_id="a") == [fifth.handle]
        assert await backend.clear_sessions_for_user("c", tenant_id="a:=b") == 1
        assert await backend.load(fifth.id) is not None
        assert await backend.get_session_ids_for_user("c", tenant_id="a:b") == [first.handle]
        assert await backend.get_session_ids_for_user("b:c", tenant_id="a") == [second.handle]
        assert await backend.count_sessions_for_user("c", tenant_id="a") == 0
        assert await backend.clear_sessions_for_user("c", tenant_id="a:b") == 1
        assert await backend.load(second.id) is not None
        assert await backend.load(third.id) is not None
        dumped = sorted(r.handle or "" for r in await backend.dump_all_sessions(tenant_id="a"))
        assert dumped == sorted([second.handle or "", fifth.handle or ""])
        assert await backend.clear_all_sessions(tenant_id="a%3Ab") == 1
        assert await backend.load(second.id) is not None
