"""How a contract test runs: a fresh store per test, driven by an event loop of its own.

The rules are written as ``async def test_…(self, backend)`` methods. Plain pytest does not run
coroutines, and a suite that needs a plugin (or a plugin's mode) is one more thing a store
author has to set up; so each such method is replaced, when its class is created, by a plain
method that runs it under ``asyncio.run``: the store is made, the rule checked and the store
closed on that one loop, which is also what a store's connections are bound to.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from ..backend import SessionStoreBackend
from ..stores.protocol import SessionStore

#: The parameter a contract test names to receive the store under test.
STORE_PARAMETER = "backend"

AsyncTest = Callable[..., Coroutine[Any, Any, None]]


class ContractCase:
    """The hooks a store author fills in, and the runner every contract test goes through.

    Subclass :class:`~session_service.testing.StoreContractTests` (which is this plus every
    rule), not this class.
    """

    async def make_store(self) -> SessionStore:
        """A fresh, migrated, empty store; called once per test, on the test's event loop."""
        raise NotImplementedError(
            f"{type(self).__name__} must define `async def make_store(self) -> SessionStore` "
            "returning a fresh, migrated, empty store"
        )

    async def close_store(self, store: SessionStore) -> None:
        """Release what :meth:`make_store` opened; called after every test, pass or fail."""
        await store.close()

    async def make_second_store(self, store: SessionStore) -> SessionStore:
        """A second instance on the same data as ``store`` (its own connections or client),
        for the rules about concurrent instances, as two app servers would be. The default is
        ``store`` itself: the rules then hold for concurrent calls on one instance."""
        return store

    async def second_instance(self, backend: SessionStoreBackend) -> SessionStoreBackend:
        """The test's view of :meth:`make_second_store`; closed with the test's store."""
        other = await self.make_second_store(backend.store)
        if other is backend.store:
            return backend
        self._opened.append(other)
        return SessionStoreBackend(other)

    _opened: list[SessionStore]

    async def _run(self, test: AsyncTest, arguments: dict[str, Any]) -> None:
        wants_store = STORE_PARAMETER in inspect.signature(test).parameters
        if not wants_store:
            await test(self, **arguments)
            return
        store = await self.make_store()
        self._opened = [store]
        try:
            await test(self, SessionStoreBackend(store), **arguments)
        finally:
            for opened in reversed(self._opened):
                await self.close_store(opened)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in dir(cls):
            if name.startswith("test") and inspect.iscoroutinefunction(getattr(cls, name)):
                setattr(cls, name, _on_own_loop(getattr(cls, name)))


def _on_own_loop(test: AsyncTest) -> Callable[..., None]:
    """``test`` as a plain method pytest can call: same name, marks (``parametrize``, …) and
    fixtures, minus the store, which :meth:`ContractCase._run` supplies."""
    signature = inspect.signature(test)
    shown = [p for name, p in signature.parameters.items() if name != STORE_PARAMETER]

    @functools.wraps(test)
    def run(self: ContractCase, **arguments: Any) -> None:
        asyncio.run(self._run(test, arguments))

    run.__signature__ = signature.replace(parameters=shown)  # type: ignore[attr-defined]
    return run
