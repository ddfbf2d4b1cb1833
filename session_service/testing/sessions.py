"""One session at a time: what is saved loads back equal, ``user_id`` follows the data, a delete
is final, and ``create`` never overwrites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ..backend import SessionStoreBackend
from ..errors import SessionDataError
from ..records import new_session_id, utcnow
from ._harness import ContractCase
from ._records import new_record


class SessionRules(ContractCase):
    """Save, load, delete and create, and the ``user_id`` column that follows the data."""

    async def test_saved_data_loads_back_equal(self, backend: SessionStoreBackend) -> None:
        data: dict[str, Any] = {
            "cart": [{"sku": "A-1", "qty": 2, "price": 9.99}, {"sku": "B-2", "qty": 1}],
            "profile": {
                "name": "Zoë Ørsted",
                "tags": ["a", "b"],
                "nested": {"deep": [1, [2, [3]]]},
            },
            "floats": [0.1, -2.5, 1e-7, 3.141592653589793, 1e16],
            "greeting": "héllo wörld — 你好 — 🎉 — مرحبا",
            "flags": {"on": True, "off": False, "missing": None},
            "empty": {"list": [], "dict": {}, "str": ""},
            "big_int": 2**62,
        }
        record = new_record(data)
        await backend.save(record)
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.id == record.id
        assert loaded.data == data
        assert loaded.data["floats"][0] == 0.1

    async def test_loaded_expiry_is_the_saved_instant_in_utc(
        self, backend: SessionStoreBackend
    ) -> None:
        paris_summer = timezone(timedelta(hours=2))
        expiry = datetime(2099, 7, 14, 23, 59, 58, 123456, tzinfo=paris_summer)
        record = new_record({"k": 1}, expiry_date=expiry)
        await backend.save(record)
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.expiry_date == expiry
        assert loaded.expiry_date.utcoffset() == timedelta(0)
        assert loaded.expiry_date == datetime(2099, 7, 14, 21, 59, 58, 123456, tzinfo=UTC)

    async def test_load_of_unknown_id_is_none(self, backend: SessionStoreBackend) -> None:
        assert await backend.load(new_session_id()) is None

    async def test_saving_again_replaces_the_data(self, backend: SessionStoreBackend) -> None:
        record = new_record({"step": 1, "old": "yes"})
        await backend.save(record)
        record.data = {"step": 2}
        await backend.save(record)
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.data == {"step": 2}
        assert (await backend.stats()).total == 1

    async def test_saving_again_keeps_created_at(self, backend: SessionStoreBackend) -> None:
        record = new_record({"user_id": "alice", "n": 1})
        await backend.save(record)
        [first] = await backend.list_sessions_for_user("alice")
        record.data["n"] = 2
        await backend.save(record)
        [second] = await backend.list_sessions_for_user("alice")
        assert first.created_at is not None
        assert second.created_at == first.created_at
        assert second.updated_at is not None
        assert second.updated_at >= first.created_at
        assert second.data["n"] == 2

    async def test_session_without_user_id_belongs_to_nobody(
        self, backend: SessionStoreBackend
    ) -> None:
        record = new_record({"theme": "dark"})
        await backend.save(record)
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.user_id is None
        assert (await backend.stats()).distinct_users == 0

    async def test_string_user_id_binds_the_session(self, backend: SessionStoreBackend) -> None:
        record = new_record({"user_id": "alice"})
        await backend.save(record)
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.user_id == "alice"
        assert await backend.get_session_ids_for_user("alice") == [record.handle]

    async def test_int_and_str_user_ids_are_the_same_user(
        self, backend: SessionStoreBackend
    ) -> None:
        as_int = new_record({"user_id": 42})
        as_str = new_record({"user_id": "42"})
        await backend.save(as_int)
        await backend.save(as_str)
        loaded = await backend.load(as_int.id)
        assert loaded is not None
        assert loaded.user_id == "42"
        assert loaded.data["user_id"] == 42  # the data keeps the app's own type
        assert await backend.count_sessions_for_user(42) == 2
        assert await backend.count_sessions_for_user("42") == 2
        assert set(await backend.get_session_ids_for_user(42)) == {as_int.handle, as_str.handle}

    async def test_removing_user_id_unbinds_the_session(self, backend: SessionStoreBackend) -> None:
        record = new_record({"user_id": "alice", "cart": [1]})
        await backend.save(record)
        assert await backend.count_sessions_for_user("alice") == 1
        del record.data["user_id"]
        await backend.save(record)
        assert await backend.count_sessions_for_user("alice") == 0
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.user_id is None
        assert loaded.data == {"cart": [1]}

    async def test_user_id_set_to_none_unbinds_the_session(
        self, backend: SessionStoreBackend
    ) -> None:
        record = new_record({"user_id": "alice"})
        await backend.save(record)
        record.data["user_id"] = None
        await backend.save(record)
        assert await backend.count_sessions_for_user("alice") == 0

    async def test_changing_user_id_moves_the_session_to_the_new_user(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"user_id": "alice"})
        await backend.save(record)
        record.data["user_id"] = "bob"
        await backend.save(record)
        assert await backend.count_sessions_for_user("alice") == 0
        assert await backend.get_session_ids_for_user("bob") == [record.handle]

    async def test_user_id_follows_data_even_when_record_user_id_disagrees(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"user_id": "alice"})
        record.user_id = "mallory"  # stale attribute: the data is what counts
        await backend.save(record)
        assert await backend.count_sessions_for_user("mallory") == 0
        assert await backend.count_sessions_for_user("alice") == 1

    async def test_user_id_of_wrong_type_is_refused_and_nothing_written(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        for bad in (True, False, {"id": 1}, ["alice"], 4.2):
            record = new_record({"user_id": bad})
            with pytest.raises(SessionDataError, match="user_id"):
                await backend.save(record)
            with pytest.raises(SessionDataError, match="user_id"):
                await backend.create(record)
            assert await backend.load(record.id) is None
        assert (await backend.stats()).total == 0

    async def test_user_id_of_wrong_type_leaves_the_stored_session_unchanged(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"user_id": "alice", "n": 1})
        await backend.save(record)
        with pytest.raises(SessionDataError):
            await backend.save(new_record({"user_id": True, "n": 2}, sid=record.id))
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.data == {"user_id": "alice", "n": 1}
        assert await backend.count_sessions_for_user("alice") == 1

    async def test_deleted_session_no_longer_loads(self, backend: SessionStoreBackend) -> None:
        record = new_record({"k": "v"})
        other = new_record({"k": "w"})
        await backend.save(record)
        await backend.save(other)
        await backend.delete(record.id)
        assert await backend.load(record.id) is None
        assert await backend.load(other.id) is not None

    async def test_deleting_a_missing_session_is_not_an_error(
        self, backend: SessionStoreBackend
    ) -> None:
        await backend.delete(new_session_id())
        record = new_record({"k": 1})
        await backend.save(record)
        await backend.delete(record.id)
        await backend.delete(record.id)
        assert (await backend.stats()).total == 0

    async def test_create_stores_a_new_session_under_its_id(
        self, backend: SessionStoreBackend
    ) -> None:
        record = new_record({"user_id": "alice"})
        wanted = record.id
        created = await backend.create(record)
        assert created.id == wanted
        loaded = await backend.load(wanted)
        assert loaded is not None
        assert loaded.data == {"user_id": "alice"}
        assert await backend.count_sessions_for_user("alice") == 1

    async def test_create_never_overwrites_a_taken_id(self, backend: SessionStoreBackend) -> None:
        original = new_record({"owner": "first", "user_id": "alice"})
        await backend.save(original)
        intruder = new_record({"owner": "second"}, sid=original.id)
        created = await backend.create(intruder)
        assert created.id != original.id
        assert intruder.id == created.id  # the fresh id is set on the record passed in
        kept = await backend.load(original.id)
        assert kept is not None
        assert kept.data == {"owner": "first", "user_id": "alice"}
        fresh = await backend.load(created.id)
        assert fresh is not None
        assert fresh.data == {"owner": "second"}
        assert (await backend.stats()).total == 2
        assert await backend.count_sessions_for_user("alice") == 1

    async def test_create_never_overwrites_an_expired_sessions_id(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        old = new_record({"owner": "old"}, expiry_date=utcnow() - timedelta(minutes=5))
        await backend.save(old)
        created = await backend.create(new_record({"owner": "new"}, sid=old.id))
        assert created.id != old.id
        loaded = await backend.load(created.id)
        assert loaded is not None
        assert loaded.data == {"owner": "new"}

    async def test_a_loaded_record_is_a_private_copy(self, backend: SessionStoreBackend) -> None:
        """Neither the record saved nor one loaded is the stored session: changing them in
        place changes nothing stored."""
        saved = new_record({"cart": [1, 2]})
        await backend.save(saved)
        saved.data["cart"].append(3)
        loaded = await backend.load(saved.id)
        assert loaded is not None
        loaded.data["cart"].append(4)
        again = await backend.load(saved.id)
        assert again is not None and again.data == {"cart": [1, 2]}

    async def test_migrate_again_keeps_every_session(self, backend: SessionStoreBackend) -> None:
        saved = new_record({"user_id": "alice"})
        await backend.save(saved)
        await backend.migrate()
        await backend.ping()
        assert await backend.load(saved.id) is not None
        assert await backend.count_sessions_for_user("alice") == 1
