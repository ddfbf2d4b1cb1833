"""``session-service reencrypt`` while the app runs: it pages through the store (never every
session in one list) and rewrites a value only while the store still holds the ciphertext it
read, so a value the app writes meanwhile (sealed under the first key already) is never
overwritten with the older one. Needs what :mod:`.encryption` needs (it skips otherwise)."""

from __future__ import annotations

from typing import NoReturn

import pytest

from ..backend import SessionStoreBackend
from ..stores._reencrypt import reencrypt_store
from ._harness import ContractCase
from ._records import data_of, new_record
from .encryption import CARD, saved_then_rekeyed


class ReencryptRules(ContractCase):
    """``reencrypt`` is bounded in memory and loses no write that races it."""

    async def test_reencrypt_never_overwrites_a_value_the_app_wrote_meanwhile(
        self, backend: SessionStoreBackend
    ) -> None:
        record = new_record({"cart": "old", "card": CARD, "user_id": "alice"})
        ring = await saved_then_rekeyed(backend, record)
        store = ring.store
        raced: list[str] = []

        async def app_writes(stored_key: str) -> None:
            """Between reencrypt's read of the session and its rewrite: a request saves."""
            if not raced:
                raced.append(stored_key)
                assert await backend.patch(record.id, {"cart": "new"}, [])

        result = await reencrypt_store(store, batch_size=2, before_rewrite=app_writes)
        assert raced and result.rewritten == 1
        ring.use("B")  # A removed: everything must be under B now
        assert await data_of(backend, record.id) == {
            "cart": "new",
            "card": CARD,
            "user_id": "alice",
        }
        again = await reencrypt_store(store)
        assert (again.rewritten, again.current) == (0, 1)

    async def test_reencrypt_reads_the_store_page_by_page(
        self, backend: SessionStoreBackend
    ) -> None:
        records = [new_record({"i": i, "s": CARD}) for i in range(8)]
        ring = await saved_then_rekeyed(backend, *records)
        store = ring.store

        async def whole_store(tenant_id: str | None) -> NoReturn:
            pytest.fail("reencrypt read every session in one list")

        store._dump = whole_store  # type: ignore[method-assign]
        seen: list[int] = []
        result = await reencrypt_store(store, batch_size=3, on_progress=seen.append)
        assert (result.rewritten, result.pages) == (8, 3)
        assert seen == [3, 6, 8]
        ring.use("B")
        for record in records:
            assert await data_of(backend, record.id) == record.data
