"""``SESSION_CACHE``, its bounds and ``SESSION_PG_DIRECT_URL`` (``docs/configuration.md``):
the cache only where every process can hear every revocation."""

from __future__ import annotations

import pytest

from session_service import SessionConfigError, SessionSettings, SessionStoreBackend
from session_service.cache import CachedSessionStore

from .conftest import PG_URL, SECRET


def _settings(env: dict[str, str], **extra: str) -> SessionSettings:
    return SessionSettings.from_env({**env, "SESSION_SECRET_KEY": SECRET, **extra})


def test_off_by_default(env: dict[str, str]) -> None:
    settings = _settings(env, SESSION_DB_URL=PG_URL)
    assert settings.cache == "off"
    assert settings.cache_max_entries == 50_000 and settings.cache_max_age_seconds == 2.0
    assert not isinstance(SessionStoreBackend.from_settings(settings).store, CachedSessionStore)


@pytest.mark.parametrize("url", [PG_URL, "redis://cache.internal:6379/0"])
def test_local_puts_a_cache_in_front_of_postgres_and_redis(env: dict[str, str], url: str) -> None:
    settings = _settings(
        env,
        SESSION_DB_URL=url,
        SESSION_CACHE="LOCAL",
        SESSION_CACHE_MAX_ENTRIES="10",
        SESSION_CACHE_MAX_AGE_SECONDS="0.5",
    )
    store = SessionStoreBackend.from_settings(settings).store
    assert isinstance(store, CachedSessionStore)
    assert store.cache.max_entries == 10 and store.cache.max_age == 0.5
    assert "pw-hunter2" not in repr(store) + repr(settings)


@pytest.mark.parametrize(
    ("url", "why"), [("", "SQLite"), ("sqlite:///x.db", "SQLite"), ("memory://", "memory")]
)
def test_local_is_refused_for_sqlite_and_memory(env: dict[str, str], url: str, why: str) -> None:
    extra = {"SESSION_DB_URL": url} if url else {}
    with pytest.raises(SessionConfigError, match=f"SESSION_CACHE=local.*{why}"):
        _settings(env, SESSION_CACHE="local", **extra)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_CACHE", "remote"),
        ("SESSION_CACHE_MAX_ENTRIES", "0"),
        ("SESSION_CACHE_MAX_AGE_SECONDS", "0.05"),
        ("SESSION_CACHE_MAX_AGE_SECONDS", "61"),
        ("SESSION_PG_DIRECT_URL", "redis://r:6379/0"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str, value: str) -> None:
    with pytest.raises(SessionConfigError, match=name):
        _settings(env, **{"SESSION_DB_URL": PG_URL, "SESSION_CACHE": "local", name: value})


def test_a_transaction_pooler_needs_a_direct_url_for_the_cache(env: dict[str, str]) -> None:
    pooled = {"SESSION_DB_URL": PG_URL, "SESSION_DB_POOLER": "transaction"}
    _settings(env, **pooled)  # no cache: fine
    with pytest.raises(SessionConfigError, match="SESSION_PG_DIRECT_URL"):
        _settings(env, SESSION_CACHE="local", **pooled)
    direct = "postgresql://app:pw-hunter2@db-direct.internal:5432/sessions"
    settings = _settings(env, SESSION_CACHE="local", SESSION_PG_DIRECT_URL=direct, **pooled)
    assert "pw-hunter2" not in repr(settings)
    store = SessionStoreBackend.from_settings(settings).store
    assert isinstance(store, CachedSessionStore)
    assert "pw-hunter2" not in store.channel.where and "db-direct" in store.channel.where
