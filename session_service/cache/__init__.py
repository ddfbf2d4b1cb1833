"""A read cache in each process that every revocation reaches at once (``SESSION_CACHE=local``,
PostgreSQL and Redis; see [Stores and deployment](stores.md#a-read-cache-in-each-process)).

* :mod:`.local`: the entries, bounded in number and age, and whether hits may be served;
* :mod:`.store`: :class:`CachedSessionStore`, a store in front of the real one;
* :mod:`.channel`: the one subscriber connection per process and its health checks, with
  :mod:`.postgres` (``LISTEN`` on the triggers' ``NOTIFY``) and :mod:`.redis` (``SUBSCRIBE``
  to the scripts' ``PUBLISH``);
* :mod:`.keys`: the session id to the key a revocation names;
* :mod:`.websockets`: open websockets of a revoked session are closed.
"""

from __future__ import annotations

from ..errors import SessionConfigError
from ..settings import SessionSettings, mask_url
from ..settings.cache import check_cache_for
from ..stores.protocol import SessionStore
from .channel import RevocationChannel
from .local import LocalCache
from .store import CachedSessionStore

__all__ = ["CachedSessionStore", "LocalCache", "RevocationChannel", "cached_store"]


def cached_store(store: SessionStore, settings: SessionSettings, url: str) -> CachedSessionStore:
    """``store`` (of ``url``) behind a cache with ``settings``' bounds and the channel its
    kind of store pushes revocations on. ``SessionConfigError`` for a store with none."""
    check_cache_for(
        "local", store.kind, pooler=settings.db_pooler, direct_url=settings.pg_direct_url
    )
    cache = LocalCache(settings.cache_max_entries, settings.cache_max_age_seconds)
    return CachedSessionStore(store, cache, _channel(store, cache, settings, url))


def _channel(
    store: SessionStore, cache: LocalCache, settings: SessionSettings, url: str
) -> RevocationChannel:
    from ..stores.sql import PgSessionStore

    timeout = min(settings.db_timeout_seconds, 1.0)  # a ping slower than a second is a loss
    if isinstance(store, PgSessionStore):
        from .postgres import PgRevocations

        direct = settings.pg_direct_url or url
        return PgRevocations(cache, direct, mask_url(direct), timeout=timeout)
    try:
        from ..stores.redis import RedisSessionStore
    except ImportError:  # pragma: no cover - without the redis extra no store is one
        RedisSessionStore = None  # type: ignore[assignment,misc]
    if RedisSessionStore is not None and isinstance(store, RedisSessionStore):
        from .redis import RedisRevocations

        return RedisRevocations(
            cache, lambda: store.client, store.key_prefix, store.display_url, timeout=timeout
        )
    raise SessionConfigError(  # pragma: no cover - check_cache_for refused it already
        f"SESSION_CACHE=local: the {store.kind!r} store has no revocation channel"
    )
