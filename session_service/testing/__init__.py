"""The store contract as a test suite: run it against a store of your own.

Every rule a session store must follow (the ones the service, the middleware and the CLI rely
on, listed in :mod:`session_service.stores.protocol`) is a test here, named after the rule, so
a store that breaks one fails a test that says which. The project's own four stores run
through it too (``tests/stores/test_contract.py``). It needs pytest and nothing else: each test
drives an event loop of its own, so no asyncio plugin or mode has to be set up::

    # test_my_store.py
    from session_service import SessionStore
    from session_service.testing import StoreContractTests

    class TestMyStore(StoreContractTests):
        async def make_store(self) -> SessionStore:
            store = MyStore(...)      # fresh and empty for every test
            await store.migrate()
            return store

        async def close_store(self, store: SessionStore) -> None:  # optional
            await store.close()

``make_second_store`` (optional) returns another instance on the same data, so the rules about
concurrent instances run across two of them; ``age_session`` (optional) moves a stored
session's start back, for the rules about sessions created long ago (they skip without it).
The tests call the store through :class:`~session_service.SessionStoreBackend`, as the
service does.
"""

from __future__ import annotations

from .bad_data import BadDataRules
from .concurrency import ConcurrencyRules
from .devices import DeviceRules
from .encryption import EncryptionRules
from .expiry import ExpiryRules
from .hostile import HostileInputRules
from .lifecycle import LiveSessionRules
from .lifetime import LifetimeRules
from .patch import PatchRules
from .reencrypt import ReencryptRules
from .sessions import SessionRules
from .transfer import TransferRules
from .users_tenants import UserAndTenantRules

__all__ = ["StoreContractTests"]


class StoreContractTests(
    SessionRules,
    LiveSessionRules,
    PatchRules,
    ExpiryRules,
    UserAndTenantRules,
    BadDataRules,
    HostileInputRules,
    ConcurrencyRules,
    DeviceRules,
    LifetimeRules,
    TransferRules,
    EncryptionRules,
    ReencryptRules,
):
    """Subclass it in a test module (its name starting with ``Test``) and define
    ``async def make_store(self) -> SessionStore`` returning a fresh, migrated, empty store;
    collecting the module runs the whole contract against that store."""
