"""The whole store contract again with ``SESSION_ENCRYPTION_KEYS`` set, on every store kind:
every rule (patch and its hostile keys, concurrency, lifetime, users and tenants, devices,
bad data) holds when each value is sealed at rest, as the settings would configure it."""

from __future__ import annotations

import pytest

from session_service import SessionSettings, SessionStore, SessionStoreBackend
from session_service.backend import apply_encryption
from session_service.errors import SessionDataError
from session_service.testing._records import data_of, new_record
from session_service.testing.encryption import keys_setting

from . import test_contract as plain
from . import test_contract_cluster as cluster

pytest.importorskip("cryptography", reason="the `encryption` extra is not installed")


class _Encrypted(plain._ProjectStore):
    async def make_store(self) -> SessionStore:
        settings = SessionSettings.from_env(
            {"SESSION_ENCRYPTION_KEYS": keys_setting("k2", "k1")}, need_secret=False
        )
        store = SessionStoreBackend.from_url(self.url).store
        apply_encryption(store, settings)  # as the service and from_settings do
        await store.migrate()
        return store

    async def test_max_bytes_is_exact_at_the_boundary(self, backend: SessionStoreBackend) -> None:
        """Sealed, ``SESSION_MAX_BYTES`` counts the bytes as stored (a patch's merge is only
        known sealed): a value that fits plain but not sealed is refused, nothing written."""
        backend.max_bytes = 1024
        record = new_record({"a": [1, 2, 3]})
        await backend.save(record)
        fits_plain = "z" * (1024 - len('{"a":[1,2,3],"s":""}'))
        with pytest.raises(SessionDataError, match="SESSION_MAX_BYTES"):
            await backend.patch(record.id, {"s": fits_plain}, [])
        with pytest.raises(SessionDataError, match="SESSION_MAX_BYTES"):
            await backend.save(new_record({"a": [1, 2, 3], "s": fits_plain}))
        assert await data_of(backend, record.id) == {"a": [1, 2, 3]}
        assert await backend.patch(record.id, {"s": "z" * 600}, [])  # sealed: about 850 bytes
        assert await data_of(backend, record.id) == {"a": [1, 2, 3], "s": "z" * 600}

    async def make_second_store(self, store: SessionStore) -> SessionStore:
        other = SessionStoreBackend.from_url(self.url).store
        other.cipher = store.cipher  # type: ignore[attr-defined]
        return other


@pytest.mark.stores("sqlite")
class TestEncryptedSqliteStore(_Encrypted, plain.TestSqliteStore):
    pass


@pytest.mark.stores("postgres")
class TestEncryptedPostgresStore(_Encrypted, plain.TestPostgresStore):
    pass


@pytest.mark.stores("redis")
class TestEncryptedRedisStore(_Encrypted, plain.TestRedisStore):
    pass


@pytest.mark.stores("memory")
class TestEncryptedMemoryStore(_Encrypted, plain.TestMemoryStore):
    pass


@pytest.mark.stores("redis_cluster")
class TestEncryptedRedisClusterStore(_Encrypted, cluster.TestRedisClusterStore):
    pass
