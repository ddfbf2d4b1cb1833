"""``SessionSource``: what the middleware needs of its service, named apart from both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

    from ..backend import SessionStoreBackend
    from ..settings import SessionSettings


class SessionSource(Protocol):
    """What the middleware needs of its service (``DefaultSessionService`` is one): the
    settings, the store, and the migration on the first request. Named here so the web layer
    never imports the service module, which imports this one to build
    ``service.session_layer()``."""

    @property
    def settings(self) -> SessionSettings: ...

    @property
    def auto_migrate(self) -> bool: ...

    @property
    def migrated(self) -> asyncio.Event: ...

    def get_session_store(self) -> SessionStoreBackend: ...

    async def migrate_on_first_request(self) -> None: ...
