"""Encryption at rest (``SESSION_ENCRYPTION_KEYS``): what the store holds is sealed value by
value, bound to its session, its key name and its key id; every read path opens it; a value
that does not open makes the session read as missing; delta saves keep every overlapping
write; ``reencrypt`` moves everything to the first key so an old key can go. These rules need
the ``encryption`` extra and a store built on ``SessionStoreBase`` (they skip otherwise)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from dataclasses import replace
from typing import Any

import pytest

from ..backend import SessionStoreBackend, ruled_store
from ..cache import CachedSessionStore
from ..records import SessionRecord, new_session_id
from ..settings.encryption import parse_encryption_keys
from ..storable import at_rest_id
from ..stores.base import SessionStoreBase
from ._harness import ContractCase
from ._records import data_of, new_record

CARD = "4111-1111-1111-1111"


def keys_setting(*key_ids: str, keys: dict[str, str] | None = None) -> str:
    """A ``SESSION_ENCRYPTION_KEYS`` value with these ids (fresh keys unless in ``keys``)."""
    keys = {} if keys is None else keys
    for key_id in key_ids:
        keys.setdefault(key_id, base64.b64encode(os.urandom(32)).decode())
    return ",".join(f"{key_id}:{keys[key_id]}" for key_id in key_ids)


def _store(backend: SessionStoreBackend) -> SessionStoreBase:
    """The store that seals (``backend``'s, or the one its read cache is in front of)."""
    pytest.importorskip("cryptography", reason="the `encryption` extra is not installed")
    store = ruled_store(backend.store)
    if not isinstance(store, SessionStoreBase):
        pytest.skip("encryption is applied by SessionStoreBase, which this store does not use")
    return store


def _forget(backend: SessionStoreBackend) -> None:
    """A restart, or a change behind every store's back (the test's own write of what is
    stored), as a read cache sees it: a restart empties it, and such a write is no revocation
    (it shows within ``SESSION_CACHE_MAX_AGE_SECONDS``; here, at once)."""
    if isinstance(backend.store, CachedSessionStore):
        backend.store.cache.clear()


class Keyring:
    """Switches a store's keys as an operator edits ``SESSION_ENCRYPTION_KEYS`` between
    restarts: each id keeps its key across switches."""

    def __init__(self, backend: SessionStoreBackend) -> None:
        self.backend = backend
        self.store = _store(backend)
        self.material: dict[str, str] = {}

    def use(self, *key_ids: str) -> None:
        """Restart with these keys (none: encryption off)."""
        from ..stores._cipher import DataCipher

        _forget(self.backend)
        if not key_ids:
            self.store.cipher = None
            return
        setting = keys_setting(*key_ids, keys=self.material)
        keys = parse_encryption_keys("SESSION_ENCRYPTION_KEYS", setting)
        assert keys is not None
        self.store.cipher = DataCipher(keys)


async def saved_then_rekeyed(backend: SessionStoreBackend, *records: SessionRecord) -> Keyring:
    """``records`` saved under key ``A``, then a restart with a new key ``B`` first and ``A``
    still listed (so it still opens): where an operator's key rotation leaves a store before
    ``reencrypt``. The keyring's ``store`` is the store that seals."""
    ring = Keyring(backend)
    ring.use("A")
    for record in records:
        await backend.save(record)
    ring.use("B", "A")
    return ring


async def stored_data(store: SessionStoreBase, session_id: str) -> dict[str, Any]:
    """The data as the store holds it (sealed), through its own read primitive."""
    raw = await store._load(at_rest_id(session_id))
    assert raw is not None, "the session is not stored"
    return raw.data


async def overwrite_stored(store: SessionStoreBase, record: SessionRecord) -> None:
    """Replace what the store holds for ``record`` with ``record.data`` as it is (no seal)."""
    stored = replace(record, id=at_rest_id(record.id))  # the store files it by the hash
    await store._save(stored, json.dumps(record.data, ensure_ascii=False))


async def tamper(backend: SessionStoreBackend, record: SessionRecord) -> None:
    """:func:`overwrite_stored` behind the store's back, as an attacker with the database
    would: a read cache in front of it forgets its copy (see :func:`_forget`)."""
    await overwrite_stored(_store(backend), record)
    _forget(backend)


class EncryptionRules(ContractCase):
    """Session data sealed at rest, on every path a store reads or writes it."""

    async def test_encrypted_values_are_sealed_at_rest_and_user_id_stays_plain(
        self, backend: SessionStoreBackend
    ) -> None:
        store = _store(backend)
        Keyring(backend).use("k1")
        record = new_record({"card": CARD, "user_id": "alice", "n": [1, 2.5, None]})
        await backend.save(record)
        raw = await stored_data(store, record.id)
        assert CARD not in json.dumps(raw) and "2.5" not in json.dumps(raw)
        assert raw["user_id"] == "alice"  # the by-user index mirrors it
        assert all(raw[k].startswith("\ufdd0k1:") for k in ("card", "n"))
        assert await data_of(backend, record.id) == record.data
        assert await backend.count_sessions_for_user("alice") == 1
        (listed,) = await backend.list_sessions_for_user("alice")
        assert listed.data == record.data
        (dumped,) = await backend.dump_all_sessions()
        assert dumped.data == record.data

    async def test_encrypted_patch_keeps_overlapping_writes_of_other_keys(
        self, backend: SessionStoreBackend
    ) -> None:
        store = _store(backend)
        Keyring(backend).use("k1")
        other = await self.second_instance(backend)
        if other is not backend:
            other_store = ruled_store(other.store)
            assert isinstance(other_store, SessionStoreBase)
            other_store.cipher = store.cipher
            _forget(other)
        record = new_record({"a": 0, "b": 0, "c": "kept"})
        await backend.save(record)
        for i in range(1, 21):
            assert all(
                await asyncio.gather(
                    backend.patch(record.id, {"a": i}, []),
                    other.patch(record.id, {"b": i, f"new{i}": CARD}, ["c"]),
                )
            )
        _forget(backend)  # the other instance's writes: shown here within the cache's max age
        loaded = await data_of(backend, record.id)
        assert loaded == {"a": 20, "b": 20, **{f"new{i}": CARD for i in range(1, 21)}}
        assert CARD not in json.dumps(await stored_data(store, record.id))

    async def test_a_rotated_session_is_sealed_for_its_new_id(
        self, backend: SessionStoreBackend
    ) -> None:
        Keyring(backend).use("k1")
        old = new_record({"cart": CARD})
        await backend.save(old)
        new = SessionRecord(new_session_id(), {"cart": CARD, "user_id": "u"}, old.expiry_date)
        assert await backend.rotate(old.id, new)
        assert await backend.load(old.id) is None
        assert await data_of(backend, new.id) == {"cart": CARD, "user_id": "u"}
        assert await backend.patch(new.id, {"more": 1}, [])
        assert await data_of(backend, new.id) == {"cart": CARD, "user_id": "u", "more": 1}

    async def test_a_create_given_a_fresh_id_seals_for_that_id(
        self, backend: SessionStoreBackend
    ) -> None:
        Keyring(backend).use("k1")
        first = new_record({"mine": 1})
        await backend.save(first)
        clash = new_record({"cart": CARD}, sid=first.id)
        await backend.create(clash)  # the id is taken: the store picks another
        assert clash.id != first.id
        assert await data_of(backend, clash.id) == {"cart": CARD}
        assert await data_of(backend, first.id) == {"mine": 1}

    async def test_a_value_copied_to_another_session_or_key_reads_as_missing(
        self, backend: SessionStoreBackend, caplog: pytest.LogCaptureFixture
    ) -> None:
        store = _store(backend)
        Keyring(backend).use("k1")
        victim, attacker = new_record({"role": "admin"}), new_record({"role": "guest"})
        await backend.save(victim)
        await backend.save(attacker)
        assert await data_of(backend, attacker.id) == {"role": "guest"}  # a cache holds it
        stolen = (await stored_data(store, victim.id))["role"]
        attacker.data = {"role": stolen}
        await tamper(backend, attacker)
        with caplog.at_level(logging.WARNING):
            assert await backend.load(attacker.id) is None
        # The victim's own value moved to another key of its session.
        victim_raw = SessionRecord(victim.id, {"other": stolen}, victim.expiry_date)
        await tamper(backend, victim_raw)
        assert await backend.load(victim.id) is None
        assert await backend.dump_all_sessions() == []
        _no_secret_logged(caplog, victim.id, attacker.id, stolen)

    async def test_a_value_relabelled_with_another_key_id_reads_as_missing(
        self, backend: SessionStoreBackend
    ) -> None:
        store = _store(backend)
        ring = Keyring(backend)
        ring.use("a")
        ring.material["b"] = ring.material["a"]  # one key listed under two ids
        ring.use("a", "b")
        record = new_record({"k": CARD})
        await backend.save(record)
        sealed = (await stored_data(store, record.id))["k"]
        assert sealed.startswith("\ufdd0a:")
        relabelled = "\ufdd0b:" + sealed[len("\ufdd0a:") :]
        await tamper(backend, SessionRecord(record.id, {"k": relabelled}, record.expiry_date))
        assert await backend.load(record.id) is None

    async def test_a_value_that_fails_its_tag_reads_as_missing_with_one_log_line(
        self, backend: SessionStoreBackend, caplog: pytest.LogCaptureFixture
    ) -> None:
        store = _store(backend)
        Keyring(backend).use("k1")
        record = new_record({"a": CARD, "b": 2})
        await backend.save(record)
        sealed = (await stored_data(store, record.id))["a"]
        flipped = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]  # the tag
        await tamper(backend, SessionRecord(record.id, {"a": flipped}, record.expiry_date))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert await backend.load(record.id) is None
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        _no_secret_logged(caplog, record.id, sealed)

    async def test_a_value_under_a_removed_key_reads_as_missing(
        self, backend: SessionStoreBackend, caplog: pytest.LogCaptureFixture
    ) -> None:
        ring = Keyring(backend)
        ring.use("k-retired")
        record = new_record({"a": CARD})
        await backend.save(record)
        assert await data_of(backend, record.id) == {"a": CARD}  # a read cache holds it now
        ring.use("k-new")  # "k-retired" removed before reencrypt ran
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert await backend.load(record.id) is None
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1
        _no_secret_logged(caplog, record.id, *ring.material.values(), "k-retired")

    async def test_several_keys_the_first_seals_every_one_opens_and_reencrypt_moves_all(
        self, backend: SessionStoreBackend
    ) -> None:
        from ..stores._reencrypt import reencrypt_store

        Keyring(backend).use()
        plain = new_record({"legacy": CARD, "user_id": "bob"})
        await backend.save(plain)  # written before encryption was turned on
        records = [new_record({"i": i, "s": CARD}) for i in range(7)]
        ring = await saved_then_rekeyed(backend, *records)
        store = ring.store
        assert await data_of(backend, records[0].id) == {"i": 0, "s": CARD}
        assert await backend.patch(records[1].id, {"i": "b"}, [])  # under B now, "s" under A
        seen: list[int] = []
        result = await reencrypt_store(store, batch_size=3, on_progress=seen.append)
        assert (result.rewritten, result.current, result.unreadable) == (8, 0, 0)
        assert seen == [3, 6, 8]
        again = await reencrypt_store(store, batch_size=3)  # resumable: nothing left to do
        assert (again.rewritten, again.current) == (0, 8)
        ring.use("B")  # A removed
        for record in records[2:]:
            assert await data_of(backend, record.id) == record.data
        assert await data_of(backend, records[1].id) == {"i": "b", "s": CARD}
        assert await data_of(backend, plain.id) == {"legacy": CARD, "user_id": "bob"}
        assert CARD not in json.dumps(await stored_data(store, plain.id))
        assert await backend.count_sessions_for_user("bob") == 1

    async def test_nothing_shows_a_key(self, backend: SessionStoreBackend) -> None:
        store = _store(backend)
        ring = Keyring(backend)
        ring.use("k1", "k2")
        shown = " ".join((repr(store), repr(backend), repr(store.cipher)))
        for material in ring.material.values():
            assert material not in shown
            assert repr(base64.b64decode(material))[2:-1] not in shown


def _no_secret_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    text = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    for secret in secrets:
        assert secret not in text
