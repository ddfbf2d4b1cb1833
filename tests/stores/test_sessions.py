"""One session at a time: save, load, delete, create, update, touch, rotate.

Every test runs on a SQLite file and on a fresh PostgreSQL database (the ``backend`` fixture),
so the two stores are proven to behave the same.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from session_service import SessionDataError, SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow


def _record(
    data: dict[str, Any] | None = None,
    *,
    sid: str | None = None,
    tenant_id: str | None = None,
    expiry_date: datetime | None = None,
) -> SessionRecord:
    return SessionRecord(
        id=sid or new_session_id(),
        data={} if data is None else data,
        expiry_date=expiry_date or utcnow() + timedelta(hours=1),
        tenant_id=tenant_id,
    )


# -- save and load ---------------------------------------------------------------------------


async def test_saved_data_loads_back_equal(backend: SessionStoreBackend) -> None:
    data: dict[str, Any] = {
        "cart": [{"sku": "A-1", "qty": 2, "price": 9.99}, {"sku": "B-2", "qty": 1}],
        "profile": {"name": "Zoë Ørsted", "tags": ["a", "b"], "nested": {"deep": [1, [2, [3]]]}},
        "floats": [0.1, -2.5, 1e-7, 3.141592653589793, 1e16],
        "greeting": "héllo wörld — 你好 — 🎉 — مرحبا",
        "flags": {"on": True, "off": False, "missing": None},
        "empty": {"list": [], "dict": {}, "str": ""},
        "big_int": 2**62,
    }
    record = _record(data)
    await backend.save(record)
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.id == record.id
    assert loaded.data == data
    assert loaded.data["floats"][0] == 0.1


async def test_loaded_expiry_is_the_saved_instant_in_utc(backend: SessionStoreBackend) -> None:
    paris_summer = timezone(timedelta(hours=2))
    expiry = datetime(2099, 7, 14, 23, 59, 58, 123456, tzinfo=paris_summer)
    record = _record({"k": 1}, expiry_date=expiry)
    await backend.save(record)
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.expiry_date == expiry
    assert loaded.expiry_date.utcoffset() == timedelta(0)
    assert loaded.expiry_date == datetime(2099, 7, 14, 21, 59, 58, 123456, tzinfo=UTC)


async def test_load_of_unknown_id_is_none(backend: SessionStoreBackend) -> None:
    assert await backend.load(new_session_id()) is None


async def test_saving_again_replaces_the_data(backend: SessionStoreBackend) -> None:
    record = _record({"step": 1, "old": "yes"})
    await backend.save(record)
    record.data = {"step": 2}
    await backend.save(record)
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.data == {"step": 2}
    assert (await backend.stats()).total == 1


async def test_saving_again_keeps_created_at(backend: SessionStoreBackend) -> None:
    record = _record({"user_id": "alice", "n": 1})
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


# -- user_id mirrors data["user_id"] -------------------------------------------------------


async def test_session_without_user_id_belongs_to_nobody(backend: SessionStoreBackend) -> None:
    record = _record({"theme": "dark"})
    await backend.save(record)
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.user_id is None
    assert (await backend.stats()).distinct_users == 0


async def test_string_user_id_binds_the_session(backend: SessionStoreBackend) -> None:
    record = _record({"user_id": "alice"})
    await backend.save(record)
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.user_id == "alice"
    assert await backend.get_session_ids_for_user("alice") == [record.id]


async def test_int_and_str_user_ids_are_the_same_user(backend: SessionStoreBackend) -> None:
    as_int = _record({"user_id": 42})
    as_str = _record({"user_id": "42"})
    await backend.save(as_int)
    await backend.save(as_str)
    loaded = await backend.load(as_int.id)
    assert loaded is not None
    assert loaded.user_id == "42"
    assert loaded.data["user_id"] == 42  # the data keeps the app's own type
    assert await backend.count_sessions_for_user(42) == 2
    assert await backend.count_sessions_for_user("42") == 2
    assert set(await backend.get_session_ids_for_user(42)) == {as_int.id, as_str.id}


async def test_removing_user_id_unbinds_the_session(backend: SessionStoreBackend) -> None:
    record = _record({"user_id": "alice", "cart": [1]})
    await backend.save(record)
    assert await backend.count_sessions_for_user("alice") == 1
    del record.data["user_id"]
    await backend.save(record)
    assert await backend.count_sessions_for_user("alice") == 0
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.user_id is None
    assert loaded.data == {"cart": [1]}


async def test_user_id_set_to_none_unbinds_the_session(backend: SessionStoreBackend) -> None:
    record = _record({"user_id": "alice"})
    await backend.save(record)
    record.data["user_id"] = None
    await backend.save(record)
    assert await backend.count_sessions_for_user("alice") == 0


async def test_changing_user_id_moves_the_session_to_the_new_user(
    backend: SessionStoreBackend,
) -> None:
    record = _record({"user_id": "alice"})
    await backend.save(record)
    record.data["user_id"] = "bob"
    await backend.save(record)
    assert await backend.count_sessions_for_user("alice") == 0
    assert await backend.get_session_ids_for_user("bob") == [record.id]


async def test_user_id_follows_data_even_when_record_user_id_disagrees(
    backend: SessionStoreBackend,
) -> None:
    record = _record({"user_id": "alice"})
    record.user_id = "mallory"  # stale attribute: the data is what counts
    await backend.save(record)
    assert await backend.count_sessions_for_user("mallory") == 0
    assert await backend.count_sessions_for_user("alice") == 1


async def test_user_id_of_wrong_type_is_refused_and_nothing_written(
    backend: SessionStoreBackend,
) -> None:
    for bad in (True, False, {"id": 1}, ["alice"], 4.2):
        record = _record({"user_id": bad})
        with pytest.raises(SessionDataError, match="user_id"):
            await backend.save(record)
        with pytest.raises(SessionDataError, match="user_id"):
            await backend.create(record)
        assert await backend.load(record.id) is None
    assert (await backend.stats()).total == 0


async def test_user_id_of_wrong_type_leaves_the_stored_session_unchanged(
    backend: SessionStoreBackend,
) -> None:
    record = _record({"user_id": "alice", "n": 1})
    await backend.save(record)
    with pytest.raises(SessionDataError):
        await backend.save(_record({"user_id": True, "n": 2}, sid=record.id))
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.data == {"user_id": "alice", "n": 1}
    assert await backend.count_sessions_for_user("alice") == 1


# -- delete ----------------------------------------------------------------------------------


async def test_deleted_session_no_longer_loads(backend: SessionStoreBackend) -> None:
    record = _record({"k": "v"})
    other = _record({"k": "w"})
    await backend.save(record)
    await backend.save(other)
    await backend.delete(record.id)
    assert await backend.load(record.id) is None
    assert await backend.load(other.id) is not None


async def test_deleting_a_missing_session_is_not_an_error(backend: SessionStoreBackend) -> None:
    await backend.delete(new_session_id())
    record = _record({"k": 1})
    await backend.save(record)
    await backend.delete(record.id)
    await backend.delete(record.id)
    assert (await backend.stats()).total == 0


# -- create never overwrites -----------------------------------------------------------------


async def test_create_stores_a_new_session_under_its_id(backend: SessionStoreBackend) -> None:
    record = _record({"user_id": "alice"})
    wanted = record.id
    created = await backend.create(record)
    assert created.id == wanted
    loaded = await backend.load(wanted)
    assert loaded is not None
    assert loaded.data == {"user_id": "alice"}
    assert await backend.count_sessions_for_user("alice") == 1


async def test_create_with_a_taken_id_picks_a_fresh_one(backend: SessionStoreBackend) -> None:
    original = _record({"owner": "first", "user_id": "alice"})
    await backend.save(original)
    intruder = _record({"owner": "second"}, sid=original.id)
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


async def test_create_with_an_expired_sessions_id_does_not_overwrite_it(
    backend: SessionStoreBackend,
) -> None:
    old = _record({"owner": "old"}, expiry_date=utcnow() - timedelta(minutes=5))
    await backend.save(old)
    created = await backend.create(_record({"owner": "new"}, sid=old.id))
    assert created.id != old.id
    loaded = await backend.load(created.id)
    assert loaded is not None
    assert loaded.data == {"owner": "new"}


# -- update: what the middleware uses, never brings a revoked session back --------------------


async def test_update_rewrites_a_live_session(backend: SessionStoreBackend) -> None:
    record = _record({"n": 1})
    await backend.save(record)
    record.data = {"n": 2, "user_id": 7}
    assert await backend.update(record) is True
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.data == {"n": 2, "user_id": 7}
    assert await backend.count_sessions_for_user(7) == 1


async def test_update_of_a_deleted_session_does_not_bring_it_back(
    backend: SessionStoreBackend,
) -> None:
    record = _record({"user_id": "alice", "n": 1})
    await backend.save(record)
    await backend.delete(record.id)  # logout elsewhere
    record.data["n"] = 2
    assert await backend.update(record) is False
    assert await backend.load(record.id) is None
    assert (await backend.stats()).total == 0


async def test_update_after_clear_user_does_not_bring_the_session_back(
    backend: SessionStoreBackend,
) -> None:
    record = _record({"user_id": "alice"})
    await backend.save(record)
    assert await backend.clear_sessions_for_user("alice") == 1
    assert await backend.update(record) is False
    assert await backend.count_sessions_for_user("alice") == 0


async def test_update_of_a_never_stored_session_inserts_nothing(
    backend: SessionStoreBackend,
) -> None:
    assert await backend.update(_record({"k": 1})) is False
    assert (await backend.stats()).total == 0


async def test_update_without_extending_keeps_the_stored_expiry(
    backend: SessionStoreBackend,
) -> None:
    stored_expiry = utcnow() + timedelta(hours=1)
    record = _record({"user_id": "alice", "n": 1}, expiry_date=stored_expiry)
    await backend.save(record)
    record.data["n"] = 2
    record.expiry_date = utcnow() + timedelta(days=30)  # must be ignored
    assert await backend.update(record, extend_expiry=False) is True
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.data == {"user_id": "alice", "n": 2}
    assert loaded.expiry_date == stored_expiry


@pytest.mark.parametrize(
    ("before", "after"),
    [({"user_id": "alice"}, {"user_id": "bob"}), ({}, {"user_id": 7}), ({"user_id": "a"}, {})],
    ids=["changed", "bound", "unbound"],
)
async def test_update_without_extending_still_moves_the_user_column(
    backend: SessionStoreBackend, before: dict[str, Any], after: dict[str, Any]
) -> None:
    record = _record(dict(before))
    await backend.save(record)
    record.data = dict(after)
    assert await backend.update(record, extend_expiry=False) is True
    for owner in ("alice", "a"):
        assert await backend.count_sessions_for_user(owner) == 0
    if "user_id" in after:
        assert await backend.count_sessions_for_user(after["user_id"]) == 1
    loaded = await backend.load(record.id)
    assert loaded is not None and loaded.user_id == (
        None if "user_id" not in after else str(after["user_id"])
    )


async def test_update_without_extending_does_not_bring_a_deleted_session_back(
    backend: SessionStoreBackend,
) -> None:
    record = _record({"user_id": "alice"})
    await backend.save(record)
    await backend.clear_sessions_for_user("alice")
    assert await backend.update(record, extend_expiry=False) is False
    assert (await backend.stats()).total == 0


# -- touch: extend the expiry without rewriting the data -------------------------------------


async def test_touch_extends_a_live_session(backend: SessionStoreBackend) -> None:
    record = _record({"k": "v"}, expiry_date=utcnow() + timedelta(minutes=5))
    await backend.save(record)
    later = datetime(2099, 1, 1, tzinfo=UTC)
    assert await backend.touch(record.id, later) is True
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.expiry_date == later
    assert loaded.data == {"k": "v"}


async def test_touch_of_a_deleted_session_does_not_bring_it_back(
    backend: SessionStoreBackend,
) -> None:
    record = _record({"k": "v"})
    await backend.save(record)
    await backend.delete(record.id)
    assert await backend.touch(record.id, utcnow() + timedelta(days=1)) is False
    assert await backend.load(record.id) is None
    assert (await backend.stats()).total == 0


# -- rotate: new id at login, old id dead ----------------------------------------------------


async def test_rotate_moves_the_session_to_a_new_id(backend: SessionStoreBackend) -> None:
    old = _record({"cart": [1, 2]})
    await backend.save(old)
    new = _record({"cart": [1, 2], "user_id": "alice"})
    assert await backend.rotate(old.id, new) is True
    assert await backend.load(old.id) is None
    moved = await backend.load(new.id)
    assert moved is not None
    assert moved.data == {"cart": [1, 2], "user_id": "alice"}
    assert await backend.get_session_ids_for_user("alice") == [new.id]
    assert (await backend.stats()).total == 1


async def test_rotate_of_a_deleted_session_writes_nothing(backend: SessionStoreBackend) -> None:
    old = _record({"k": 1})
    await backend.save(old)
    await backend.delete(old.id)
    new = _record({"k": 1, "user_id": "alice"})
    assert await backend.rotate(old.id, new) is False
    assert await backend.load(new.id) is None
    assert await backend.count_sessions_for_user("alice") == 0
    assert (await backend.stats()).total == 0


async def test_rotate_onto_a_taken_id_keeps_the_other_session(
    backend: SessionStoreBackend,
) -> None:
    bystander = _record({"owner": "bystander"})
    old = _record({"owner": "me"})
    await backend.save(bystander)
    await backend.save(old)
    new = _record({"owner": "me", "rotated": True}, sid=bystander.id)
    assert await backend.rotate(old.id, new) is True
    assert new.id not in (bystander.id, old.id)
    assert await backend.load(old.id) is None
    kept = await backend.load(bystander.id)
    assert kept is not None
    assert kept.data == {"owner": "bystander"}
    moved = await backend.load(new.id)
    assert moved is not None
    assert moved.data == {"owner": "me", "rotated": True}
