"""``SessionStoreBackend``: the store for a URL or for the settings, as one object to hold.

The service, the CLI and the benchmarks hold a backend, never a concrete store class, so the
database is a configuration choice (``SESSION_DB_URL``), not a code change. A store is built
from the settings in one place, :meth:`SessionStoreBackend.from_settings` (the service, the
CLI and the ``alembic`` command all use it).

The backend adds nothing to a call and forwards nothing: its methods *are* the store's own
bound methods, taken once when the backend is made (``backend.load is store.load``'s
function), so a call through it costs what a call on the store costs and a type checker sees
:class:`~.stores.SessionStore`'s signatures. ``backend.new_id`` is the store's own too, or a
plain :func:`~.records.new_session_id` for a store without one. The rules every store
follows live in the stores' base class (:class:`~.stores.base.SessionStoreBase`), not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from .errors import SessionConfigError
from .lifetime import absolute_ttl_of
from .settings import CLUSTER_SCHEMES, SessionSettings, StoreKind, normalize_db_url
from .stores.base import SessionStoreBase
from .stores.protocol import IdMinting, SessionStore, id_minter
from .stores.sql import PgSessionStore, SqliteSessionStore


def _store_class(kind: StoreKind, url: str) -> Any:
    """The store for ``kind``; Redis is imported only when used (the ``redis`` extra)."""
    if kind == "redis" and url.partition(":")[0].lower() in CLUSTER_SCHEMES:
        from .stores.redis_cluster import RedisClusterSessionStore

        return RedisClusterSessionStore
    if kind == "redis":
        from .stores.redis import RedisSessionStore

        return RedisSessionStore
    if kind == "memory":
        from .stores.memory import MemorySessionStore

        return MemorySessionStore
    return SqliteSessionStore if kind == "sqlite" else PgSessionStore


#: The store methods a backend offers: every method of the protocol (and its capabilities).
_METHODS = tuple(
    name
    for name in dir(SessionStore)
    if name[0] != "_" and callable(getattr(SessionStore, name))
    and not isinstance(getattr(SessionStore, name), property)
)  # fmt: skip


def ruled_store(store: object) -> object:
    """The store that keeps the rules: ``store``, or the one a read cache is in front of."""
    from .cache import CachedSessionStore

    return store.inner if isinstance(store, CachedSessionStore) else store


def apply_lifetime(store: object, settings: SessionSettings) -> None:
    """Give a store built on :class:`~.stores.base.SessionStoreBase` the absolute limit of
    ``settings`` (a store of your own without the base applies its own rules)."""
    store = ruled_store(store)
    if isinstance(store, SessionStoreBase) and store.absolute_ttl is None:
        store.absolute_ttl = absolute_ttl_of(settings.absolute_ttl_seconds)


def apply_encryption(store: object, settings: SessionSettings) -> None:
    """Give a store built on :class:`~.stores.base.SessionStoreBase` the cipher of
    ``SESSION_ENCRYPTION_KEYS`` (docs/security.md, "Encryption at rest"). A store of your own
    without the base cannot seal its data: keys set for it are refused rather than ignored."""
    keys = settings.encryption_keys
    if keys is None:
        return
    store = ruled_store(store)  # a read cache's store seals; the cache holds plain records
    if not isinstance(store, SessionStoreBase):
        raise SessionConfigError(
            f"SESSION_ENCRYPTION_KEYS is set, but {type(store).__name__} does not build on "
            "SessionStoreBase, so it cannot encrypt; unset SESSION_ENCRYPTION_KEYS"
        )
    if store.cipher is None:
        from .stores._cipher import DataCipher  # the `encryption` extra, only when used

        store.cipher = DataCipher(keys)


class SessionStoreBackend:
    """The store for a URL (or any object satisfying :class:`~.stores.SessionStore`) behind
    one interface. ``.kind`` and ``.store`` say which store it is.

    ``SessionStoreBackend(MyStore())`` accepts a store of your own.
    """

    if TYPE_CHECKING:
        # What __init__ takes from the store, as the type checker sees it.
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
        new_id = IdMinting.new_id

    def __init__(self, store: SessionStore) -> None:
        if not isinstance(store, SessionStore):
            wanted = (*_METHODS, "kind", "display_url", "max_bytes")
            missing = sorted(n for n in wanted if not hasattr(store, n))
            raise SessionConfigError(
                f"{type(store).__name__} is not a session store: it lacks {', '.join(missing)} "
                "(see session_service.SessionStore)"
            )
        self.store = store
        for name in _METHODS:  # the store's own bound methods, not wrappers of them
            setattr(self, name, self._expose(name, getattr(store, name)))
        # The id of a new session: the store's own ``new_id`` (no I/O, never wrapped), or a
        # plain id for a store without one (docs/custom-store.md).
        setattr(self, "new_id", id_minter(store))  # noqa: B010 - a method, as above

    def _expose(self, name: str, method: Any) -> Any:
        """What the backend offers as ``name``: the store's ``method`` itself. A subclass may
        return a wrapper instead (the tests count store calls that way)."""
        return method

    @property
    def kind(self) -> str:
        """``"sqlite"``, ``"postgres"``, ``"redis"``, ``"redis_cluster"``, ``"memory"`` or a
        custom store's kind."""
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

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """The backend for ``url`` without touching the database (engines connect lazily).

        Raises :class:`SessionConfigError` for a URL of no supported store.
        """
        kind, normalized = normalize_db_url(url, variable="the database URL")
        return cls(_store_class(kind, normalized)(normalized, **options))

    @classmethod
    def from_settings(cls, settings: SessionSettings, url: str | None = None) -> Self:
        """The backend of ``settings`` (its ``SESSION_DB_URL``, or ``url``), with every store
        setting applied (``SESSION_MAX_BYTES``, ``SESSION_DB_TIMEOUT_SECONDS``, the pooler, the
        Redis key prefix, the memory bound, ``SESSION_ABSOLUTE_TTL_SECONDS``,
        ``SESSION_MAX_PER_USER``, ``SESSION_ENCRYPTION_KEYS``, ``SESSION_CACHE``). No I/O."""
        url = settings.db_url if url is None else url
        kind = normalize_db_url(url, variable="the database URL")[0]
        backend = cls.from_url(url, **settings.store_options(kind))
        apply_lifetime(backend.store, settings)
        apply_encryption(backend.store, settings)
        apply_max_per_user(backend.store, settings.max_per_user)
        if settings.cache == "local":  # SESSION_CACHE: the store behind a read cache
            from .cache import cached_store

            return cls(cached_store(backend.store, settings, normalize_db_url(url)[1]))
        return backend

    @classmethod
    async def connect(cls, url: str, **options: Any) -> Self:
        """:meth:`from_url`, then check that the store answers."""
        backend = cls.from_url(url, **options)
        await backend.store.ping()
        return backend

    def __repr__(self) -> str:
        return f"SessionStoreBackend({self.store!r})"


def apply_max_per_user(store: SessionStore, limit: int) -> None:
    """Give ``store`` the ``SESSION_MAX_PER_USER`` limit. A store of your own that does not
    build on :class:`~.stores.base.SessionStoreBase` has no such rule: a limit set for it is
    refused rather than silently not kept."""
    store = ruled_store(store)  # type: ignore[assignment]
    if isinstance(store, SessionStoreBase):
        store.max_per_user = limit
    elif limit:
        raise SessionConfigError(
            f"SESSION_MAX_PER_USER={limit}: {type(store).__name__} does not build on "
            "SessionStoreBase, so it cannot keep the limit; unset SESSION_MAX_PER_USER"
        )
