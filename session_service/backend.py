"""``SessionStoreBackend``: pick the store from the URL, then hand every call to it.

The service, the CLI and the benchmarks hold a backend, never a concrete store, so the
database is a configuration choice (``SESSION_DB_URL``), not a code change. The backend adds
nothing to a call: each method of :class:`~.stores.SessionStore` is looked up on the store
once and kept on the backend, so a call through the backend costs what a call on the store
costs, and a store with more methods needs no change here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from .settings import StoreKind, normalize_db_url
from .stores.protocol import SessionStore
from .stores.sql import PgSessionStore, SqliteSessionStore


def _store_class(kind: StoreKind) -> Any:
    """The store for ``kind``; Redis is imported only when used (the ``redis`` extra)."""
    if kind == "redis":
        from .stores.redis import RedisSessionStore

        return RedisSessionStore
    if kind == "memory":
        from .stores.memory import MemorySessionStore

        return MemorySessionStore
    return SqliteSessionStore if kind == "sqlite" else PgSessionStore


#: The names a backend hands to its store: the protocol's methods.
_FORWARDED = frozenset(
    name
    for name, value in vars(SessionStore).items()
    if callable(value) and not isinstance(value, property) and name[0] != "_"
)


class SessionStoreBackend:
    """The store for a URL (or any object satisfying :class:`~.stores.SessionStore`) behind
    one interface. ``.kind`` and ``.store`` say which store it is.

    ``SessionStoreBackend(MyStore())`` accepts a store of your own.
    """

    if TYPE_CHECKING:
        # The protocol's methods, as the type checker sees them; at run time __getattr__
        # finds each on the store (once: it is then kept on the instance).
        ping = SessionStore.ping
        migrate = SessionStore.migrate
        close = SessionStore.close
        load = SessionStore.load
        create = SessionStore.create
        save = SessionStore.save
        update = SessionStore.update
        patch = SessionStore.patch
        touch = SessionStore.touch
        seen = SessionStore.seen
        rotate = SessionStore.rotate
        delete = SessionStore.delete
        clear_sessions_for_user = SessionStore.clear_sessions_for_user
        revoke_user_session = SessionStore.revoke_user_session
        count_sessions_for_user = SessionStore.count_sessions_for_user
        get_session_ids_for_user = SessionStore.get_session_ids_for_user
        list_sessions_for_user = SessionStore.list_sessions_for_user
        dump_all_sessions = SessionStore.dump_all_sessions
        clear_all_sessions = SessionStore.clear_all_sessions
        delete_expired = SessionStore.delete_expired
        delete_expired_if_leader = SessionStore.delete_expired_if_leader
        stats = SessionStore.stats

    def __init__(self, store: SessionStore) -> None:
        if not isinstance(store, SessionStore):
            wanted = (*_FORWARDED, "kind", "display_url", "max_bytes")
            missing = sorted(n for n in wanted if not hasattr(store, n))
            raise TypeError(
                f"{type(store).__name__} is not a session store: it lacks {', '.join(missing)} "
                "(see session_service.SessionStore)"
            )
        self.store = store

    @property
    def kind(self) -> str:
        """``"sqlite"``, ``"postgres"``, ``"redis"``, ``"memory"`` or a custom store's kind."""
        return self.store.kind

    @property
    def display_url(self) -> str:
        """Where the store lives, with credentials masked."""
        return self.store.display_url

    @property
    def max_bytes(self) -> int | None:
        """The store's size limit for one session (``SESSION_MAX_BYTES``)."""
        return self.store.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int | None) -> None:
        self.store.max_bytes = value

    def __getattr__(self, name: str) -> Any:
        if name not in _FORWARDED:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        method = getattr(self.store, name)
        setattr(self, name, method)  # kept: the next call does not come back here
        return method

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """The backend for ``url`` without touching the database (engines connect lazily).

        Raises :class:`SessionConfigError` for a URL of no supported store.
        """
        kind, normalized = normalize_db_url(url, variable="the database URL")
        return cls(_store_class(kind)(normalized, **options))

    @classmethod
    async def connect(cls, url: str, **options: Any) -> Self:
        """:meth:`from_url`, then check that the store answers."""
        backend = cls.from_url(url, **options)
        await backend.store.ping()
        return backend

    def __repr__(self) -> str:
        return f"SessionStoreBackend({self.store!r})"
