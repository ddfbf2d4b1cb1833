"""``update``, ``touch`` and ``rotate`` change a session only while it is still stored and live,
and say so: a session deleted or signed out meanwhile is never brought back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..backend import SessionStoreBackend
from ..records import utcnow
from ._harness import ContractCase
from ._records import new_record


class LiveSessionRules(ContractCase):
    """The writes the middleware makes after a request never resurrect a revoked session."""

    async def test_update_rewrites_a_live_session(self, backend: SessionStoreBackend) -> None:
        record = new_record({"n": 1})
        await backend.save(record)
        record.data = {"n": 2, "user_id": 7}
        assert await backend.update(record) is True
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.data == {"n": 2, "user_id": 7}
        assert await backend.count_sessions_for_user(7) == 1

    async def test_update_of_a_deleted_session_does_not_bring_it_back(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"user_id": "alice", "n": 1})
        await backend.save(record)
        await backend.delete(record.id)  # logout elsewhere
        record.data["n"] = 2
        assert await backend.update(record) is False
        assert await backend.load(record.id) is None
        assert (await backend.stats()).total == 0

    async def test_update_after_clear_user_does_not_bring_the_session_back(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"user_id": "alice"})
        await backend.save(record)
        assert await backend.clear_sessions_for_user("alice") == 1
        assert await backend.update(record) is False
        assert await backend.count_sessions_for_user("alice") == 0

    async def test_update_of_a_never_stored_session_inserts_nothing(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        assert await backend.update(new_record({"k": 1})) is False
        assert (await backend.stats()).total == 0

    async def test_update_without_extending_keeps_the_stored_expiry(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        stored_expiry = utcnow() + timedelta(hours=1)
        record = new_record({"user_id": "alice", "n": 1}, expiry_date=stored_expiry)
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
        self, backend: SessionStoreBackend, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        record = new_record(dict(before))
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
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"user_id": "alice"})
        await backend.save(record)
        await backend.clear_sessions_for_user("alice")
        assert await backend.update(record, extend_expiry=False) is False
        assert (await backend.stats()).total == 0

    async def test_touch_extends_a_live_session(self, backend: SessionStoreBackend) -> None:
        record = new_record({"k": "v"}, expiry_date=utcnow() + timedelta(minutes=5))
        await backend.save(record)
        later = datetime(2099, 1, 1, tzinfo=UTC)
        assert await backend.touch(record.id, later) is True
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.expiry_date == later
        assert loaded.data == {"k": "v"}

    async def test_touch_of_a_deleted_session_does_not_bring_it_back(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"k": "v"})
        await backend.save(record)
        await backend.delete(record.id)
        assert await backend.touch(record.id, utcnow() + timedelta(days=1)) is False
        assert await backend.load(record.id) is None
        assert (await backend.stats()).total == 0

    async def test_rotate_moves_the_session_to_a_new_id(self, backend: SessionStoreBackend) -> None:
        old = new_record({"cart": [1, 2]})
        await backend.save(old)
        new = new_record({"cart": [1, 2], "user_id": "alice"})
        assert await backend.rotate(old.id, new) is True
        assert await backend.load(old.id) is None
        moved = await backend.load(new.id)
        assert moved is not None
        assert moved.data == {"cart": [1, 2], "user_id": "alice"}
        assert await backend.get_session_ids_for_user("alice") == [moved.handle]
        assert (await backend.stats()).total == 1

    async def test_rotate_of_a_deleted_session_writes_nothing(
        self, backend: SessionStoreBackend
    ) -> None:
        old = new_record({"k": 1})
        await backend.save(old)
        await backend.delete(old.id)
        new = new_record({"k": 1, "user_id": "alice"})
        assert await backend.rotate(old.id, new) is False
        assert await backend.load(new.id) is None
        assert await backend.count_sessions_for_user("alice") == 0
        assert (await backend.stats()).total == 0

    async def test_rotate_onto_a_taken_id_keeps_the_other_session(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        bystander = new_record({"owner": "bystander"})
        old = new_record({"owner": "me"})
        await backend.save(bystander)
        await backend.save(old)
        new = new_record({"owner": "me", "rotated": True}, sid=bystander.id)
        assert await backend.rotate(old.id, new) is True
        assert new.id not in (bystander.id, old.id)
        assert await backend.load(old.id) is None
        kept = await backend.load(bystander.id)
        assert kept is not None
        assert kept.data == {"owner": "bystander"}
        moved = await backend.load(new.id)
        assert moved is not None
        assert moved.data == {"owner": "me", "rotated": True}

    async def test_seen_moves_last_seen_and_never_the_expiry(
        self, backend: SessionStoreBackend
    ) -> None:
        expiry = utcnow() + timedelta(hours=1)
        saved = new_record({"k": 1}, expiry_date=expiry)
        await backend.save(saved)
        when = utcnow()
        assert await backend.seen(saved.id, when) is True
        loaded = await backend.load(saved.id)
        assert loaded is not None and loaded.last_seen is not None
        assert abs(loaded.last_seen - when) < timedelta(seconds=1)
        assert loaded.expiry_date == expiry
        assert loaded.data == {"k": 1}

    async def test_seen_of_a_deleted_or_expired_session_is_false_and_writes_nothing(
        self, backend: SessionStoreBackend
    ) -> None:
        deleted = new_record({"k": 1})
        await backend.save(deleted)
        await backend.delete(deleted.id)
        expired = new_record({"k": 2}, expiry_date=utcnow() - timedelta(seconds=5))
        await backend.save(expired)
        assert await backend.seen(deleted.id, utcnow()) is False
        assert await backend.seen(expired.id, utcnow()) is False
        assert await backend.load(deleted.id) is None
        assert await backend.load(expired.id) is None
        assert (await backend.stats()).live == 0

    async def test_touch_with_last_seen_moves_both(self, backend: SessionStoreBackend) -> None:
        saved = new_record({"k": 1})
        await backend.save(saved)
        later, when = datetime(2099, 1, 1, tzinfo=UTC), utcnow()
        assert await backend.touch(saved.id, later, last_seen=when) is True
        loaded = await backend.load(saved.id)
        assert loaded is not None and loaded.last_seen is not None
        assert loaded.expiry_date == later
        assert abs(loaded.last_seen - when) < timedelta(seconds=1)
