""" "Your devices" at the store: every session has a handle of its own to revoke it by, a
handle revokes only a session of that user, and "sign out my other devices" (a clear with
``keep``) deletes nothing unless the kept session is still a live session of that user, so
two devices signing each other out at once leave exactly one."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ..backend import SessionStoreBackend
from ..devices import new_handle
from ..records import utcnow
from ._harness import ContractCase
from ._records import new_record, past


class DeviceRules(ContractCase):
    """Handles and ``keep``: what a "Your devices" page (``docs/devices.md``) is built on."""

    async def test_a_handle_revokes_only_a_session_of_that_user(
        self, backend: SessionStoreBackend
    ) -> None:
        alice = await backend.create(new_record({"user_id": "alice"}))
        bob = await backend.create(new_record({"user_id": "bob"}))
        [bob_listed] = await backend.list_sessions_for_user("bob")
        [alice_listed] = await backend.list_sessions_for_user("alice")
        assert bob_listed.handle and alice_listed.handle
        assert bob_listed.handle != alice_listed.handle
        assert bob_listed.handle != bob.id and bob_listed.handle not in bob.id
        assert await backend.revoke_user_session("alice", bob_listed.handle) is False
        assert await backend.revoke_user_session("alice", bob.id) is False  # an id is no handle
        assert await backend.revoke_user_session("alice", "x\x00y") is False
        assert await backend.load(bob.id) is not None
        assert await backend.revoke_user_session("alice", alice_listed.handle) is True
        assert await backend.load(alice.id) is None
        assert await backend.revoke_user_session("alice", alice_listed.handle) is False
        assert await backend.revoke_user_session("bob", bob_listed.handle, tenant_id="t") is False
        assert await backend.load(bob.id) is not None

    async def test_two_devices_signing_each_other_out_leave_exactly_one(
        self, backend: SessionStoreBackend
    ) -> None:
        for _ in range(20):
            a = await backend.create(new_record({"user_id": "alice"}))
            b = await backend.create(new_record({"user_id": "alice"}))
            bystander = await backend.create(new_record({"user_id": "bob"}))
            results = await asyncio.gather(
                backend.clear_sessions_for_user("alice", keep=a.id),
                backend.clear_sessions_for_user("alice", keep=b.id),
            )
            left = await backend.get_session_ids_for_user("alice")
            assert len(left) == 1 and left[0] in (a.handle, b.handle), (results, left)
            assert sorted(results) == [0, 1]
            assert await backend.load(bystander.id) is not None
            await backend.clear_all_sessions()

    async def test_keeping_a_session_that_is_not_the_users_live_one_signs_nobody_out(
        self, backend: SessionStoreBackend
    ) -> None:
        gone = await backend.create(new_record({"user_id": "alice"}))
        other = await backend.create(new_record({"user_id": "alice"}))
        await backend.delete(gone.id)
        assert await backend.clear_sessions_for_user("alice", keep=gone.id) == 0
        assert await backend.clear_sessions_for_user("alice", keep="\x00") == 0
        bobs = await backend.create(new_record({"user_id": "bob"}))
        assert await backend.clear_sessions_for_user("alice", keep=bobs.id) == 0
        assert await backend.get_session_ids_for_user("alice") == [other.handle]

    async def test_revoking_an_expired_session_by_handle_is_false(
        self, backend: SessionStoreBackend
    ) -> None:
        gone = new_record({"user_id": "alice"}, expiry_date=past(hours=1))
        gone.handle = new_handle()
        await backend.save(gone)
        live = await backend.create(new_record({"user_id": "alice"}))
        other = await backend.create(new_record({"user_id": "bob"}))
        assert await backend.revoke_user_session("alice", gone.handle) is False
        # Nothing a user sees changed: the live sessions load and are listed as before.
        assert await backend.load(live.id) is not None
        assert await backend.load(other.id) is not None
        [listed] = await backend.list_sessions_for_user("alice")
        assert listed.handle == live.handle and listed.id == ""
        assert listed.handle is not None
        assert await backend.revoke_user_session("alice", listed.handle) is True
        assert await backend.load(live.id) is None
        assert await backend.count_sessions_for_user("bob") == 1

    async def test_create_gives_each_session_a_handle_of_its_own(
        self, backend: SessionStoreBackend
    ) -> None:
        created = [await backend.create(new_record({"user_id": "alice"})) for _ in range(3)]
        listed = await backend.list_sessions_for_user("alice")
        handles = {r.handle for r in listed}
        assert None not in handles and len(handles) == 3
        assert not any(h in r.id for h in handles for r in created)  # type: ignore[operator]

    async def test_device_fields_written_at_create_survive_later_writes(
        self, backend: SessionStoreBackend
    ) -> None:
        """ip, user agent and handle are written once, when the session is created; a save,
        an update, a patch or a touch of the session keeps them."""
        fresh = new_record({"user_id": "alice", "n": 0})
        fresh.ip, fresh.user_agent = "203.0.113.5", "Firefox/128.0"
        created = await backend.create(fresh)
        [before] = await backend.list_sessions_for_user("alice")
        later = new_record({"user_id": "alice", "n": 1}, sid=created.id)  # no device fields
        await backend.save(later)
        later.data["n"] = 2
        assert await backend.update(later)
        assert await backend.patch(created.id, {"n": 3}, [])
        assert await backend.touch(created.id, utcnow() + timedelta(hours=2))
        [after] = await backend.list_sessions_for_user("alice")
        assert (after.handle, after.ip, after.user_agent) == (
            before.handle,
            "203.0.113.5",
            "Firefox/128.0",
        )
        assert after.data == {"user_id": "alice", "n": 3}
