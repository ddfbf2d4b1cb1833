"""Session lifetime: the absolute deadline (``SESSION_ABSOLUTE_TTL_SECONDS``), a session's own
idle TTL and cookie kind (``session.set_expiry`` and ``session.persistent``), kept with the
session under a reserved data key (docs/lifetime.md).

The absolute limit is :attr:`~session_service.stores.base.SessionStoreBase.absolute_ttl` (the
service sets it from the setting); its rules skip on a store not built on that base. The rules
about sessions created long ago need the optional :meth:`LifetimeRules.age_session` hook, and
skip, saying so, when the subclass does not define it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ..backend import SessionStoreBackend, ruled_store
from ..cache import CachedSessionStore
from ..errors import SessionDataError
from ..lifetime import LIFETIME_KEY
from ..records import SessionRecord, new_session_id, utcnow
from ..stores.base import SessionStoreBase
from ._harness import ContractCase

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _record(user: str | None = "alice", **fields: object) -> SessionRecord:
    data: dict[str, object] = {"cart": [1, 2]}
    if user is not None:
        data["user_id"] = user
    return SessionRecord(new_session_id(), data, utcnow() + DAY, **fields)  # type: ignore[arg-type]


class LifetimeRules(ContractCase):
    """The earlier of the idle and the absolute deadline ends a session on every path; a
    session's own lifetime is stored with it, carried by patch and rotate, hidden from its data."""

    async def age_session(
        self, backend: SessionStoreBackend, session_id: str, by: timedelta
    ) -> None:
        """Optional hook: move the stored start (``created_at``) of live session ``session_id``
        back by ``by``, as if it had been created that much earlier, changing nothing else. No
        store method rewrites the start, so each store does it its own way; without this hook
        the rules about sessions created long ago skip."""
        raise NotImplementedError

    async def _aged(self, backend: SessionStoreBackend, session_id: str, by: timedelta) -> None:
        if type(self).age_session is LifetimeRules.age_session:
            pytest.skip(
                f"{type(self).__name__} does not define `async def age_session(self, backend, "
                "session_id, by)`: this rule needs a session created long ago"
            )
        await self.age_session(backend, session_id, by)

    @staticmethod
    def _limit(backend: SessionStoreBackend, ttl: timedelta | None) -> None:
        if isinstance(backend.store, CachedSessionStore):  # a new limit is a restart: the
            backend.store.cache.clear()  # cache forgets what it read under the old one
        store = ruled_store(backend.store)  # and passes it to the store behind it
        if not isinstance(store, SessionStoreBase):
            pytest.skip(
                "the absolute limit (SESSION_ABSOLUTE_TTL_SECONDS) is SessionStoreBase's "
                f"absolute_ttl, and {type(store).__name__} is not built on SessionStoreBase"
            )
        store.absolute_ttl = ttl

    async def test_turning_the_absolute_limit_on_ends_sessions_created_long_ago(
        self, backend: SessionStoreBackend
    ) -> None:
        old, fresh = _record(), _record()
        await backend.create(old)
        await backend.create(fresh)
        await self._aged(backend, old.id, 3 * HOUR)  # used all along: its idle expiry is a day off
        self._limit(backend, 2 * HOUR)
        assert await backend.load(old.id) is None
        assert await backend.load(fresh.id) is not None
        assert await backend.count_sessions_for_user("alice") == 1
        assert await backend.get_session_ids_for_user("alice") == [fresh.handle]
        assert [r.handle for r in await backend.list_sessions_for_user("alice")] == [fresh.handle]
        assert [r.handle for r in await backend.dump_all_sessions()] == [fresh.handle]

    async def test_the_absolute_deadline_caps_the_reported_expiry(
        self, backend: SessionStoreBackend
    ) -> None:
        record = _record()
        await backend.create(record)
        self._limit(backend, 2 * HOUR)
        loaded = await backend.load(record.id)
        assert loaded is not None and loaded.created_at is not None
        assert loaded.absolute_expiry == loaded.created_at + 2 * HOUR
        assert loaded.expiry_date == loaded.absolute_expiry  # the idle expiry was a day away
        (listed,) = await backend.list_sessions_for_user("alice")
        assert listed.expiry_date == loaded.absolute_expiry
        assert listed.absolute_expiry == loaded.absolute_expiry

    async def test_no_absolute_limit_reports_no_absolute_expiry(
        self, backend: SessionStoreBackend
    ) -> None:
        record = _record()
        await backend.create(record)
        loaded = await backend.load(record.id)
        assert loaded is not None and loaded.absolute_expiry is None
        assert loaded.expiry_date == record.expiry_date

    async def test_create_stores_a_new_sessions_expiry_capped_at_the_deadline(
        self, backend: SessionStoreBackend
    ) -> None:
        self._limit(backend, 2 * HOUR)
        record = _record()
        await backend.create(record)
        assert record.absolute_expiry is not None
        assert record.expiry_date == record.absolute_expiry
        self._limit(backend, None)  # what the store holds, without the rule applied on reading
        loaded = await backend.load(record.id)
        assert loaded is not None and loaded.expiry_date <= utcnow() + 2 * HOUR

    async def test_a_rotation_starts_a_new_absolute_lifetime(
        self, backend: SessionStoreBackend
    ) -> None:
        record = _record()
        await backend.create(record)
        await self._aged(backend, record.id, 90 * timedelta(minutes=1))
        self._limit(backend, 2 * HOUR)
        before = await backend.load(record.id)
        assert before is not None and before.absolute_expiry is not None
        assert before.absolute_expiry <= utcnow() + 31 * timedelta(minutes=1)
        old_id, record.id = record.id, new_session_id()
        record.expiry_date = utcnow() + DAY
        assert await backend.rotate(old_id, record)
        after = await backend.load(record.id)
        assert after is not None and after.absolute_expiry is not None
        assert after.absolute_expiry > utcnow() + 119 * timedelta(minutes=1)
        # Stored capped at the deadline the rules drew (a moment before the store's own clock).
        assert (
            after.absolute_expiry - timedelta(seconds=1)
            < after.expiry_date
            <= after.absolute_expiry
        )

    async def test_a_save_never_stores_an_expiry_past_the_deadline(
        self, backend: SessionStoreBackend
    ) -> None:
        record = _record()
        await backend.create(record)
        record.absolute_expiry = utcnow() - timedelta(seconds=1)  # the deadline has passed
        record.expiry_date = utcnow() + DAY
        await backend.save(record)
        assert await backend.load(record.id) is None
        assert await backend.delete_expired() == 1  # the cleanup removes it at its deadline

    async def test_a_sessions_own_lifetime_is_kept_with_it(
        self, backend: SessionStoreBackend
    ) -> None:
        record = _record(idle_ttl=7200, persistent=False)
        await backend.create(record)
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert (loaded.idle_ttl, loaded.persistent) == (7200, False)
        assert loaded.data == {"cart": [1, 2], "user_id": "alice"}  # the reserved key is hidden
        (listed,) = await backend.list_sessions_for_user("alice")
        assert (listed.idle_ttl, listed.persistent) == (7200, False)
        assert LIFETIME_KEY not in listed.data

    async def test_a_patch_changes_the_sessions_own_lifetime_and_keeps_other_keys(
        self, backend: SessionStoreBackend
    ) -> None:
        record = _record()
        await backend.create(record)
        assert await backend.patch(record.id, {"theme": "dark"}, [], lifetime=(2592000, True))
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert (loaded.idle_ttl, loaded.persistent) == (2592000, True)
        assert loaded.data == {"cart": [1, 2], "user_id": "alice", "theme": "dark"}
        assert await backend.patch(record.id, {}, [], lifetime=(None, None))
        again = await backend.load(record.id)
        assert again is not None and (again.idle_ttl, again.persistent) == (None, None)
        assert again.data == loaded.data

    async def test_a_patch_without_lifetime_keeps_the_sessions_own(
        self, backend: SessionStoreBackend
    ) -> None:
        record = _record(idle_ttl=900)
        await backend.create(record)
        assert await backend.patch(record.id, {"theme": "dark"}, [])
        loaded = await backend.load(record.id)
        assert loaded is not None and loaded.idle_ttl == 900

    async def test_a_rotation_carries_the_sessions_own_lifetime(
        self, backend: SessionStoreBackend
    ) -> None:
        record = _record(idle_ttl=600, persistent=True)
        await backend.create(record)
        loaded = await backend.load(record.id)
        assert loaded is not None
        old_id, loaded.id = loaded.id, new_session_id()
        assert await backend.rotate(old_id, loaded)
        moved = await backend.load(loaded.id)
        assert moved is not None and (moved.idle_ttl, moved.persistent) == (600, True)

    async def test_the_reserved_lifetime_key_is_refused_as_app_data(
        self, backend: SessionStoreBackend
    ) -> None:
        record = _record()
        record.data[LIFETIME_KEY] = {"ttl": 1}
        with pytest.raises(SessionDataError, match="reserved"):
            await backend.create(record)
        plain = _record()
        await backend.create(plain)
        with pytest.raises(SessionDataError, match="reserved"):
            await backend.patch(plain.id, {LIFETIME_KEY: 1}, [])
