"""Database URLs in the settings: each form maps to its store's async driver, a Redis
Sentinel URL names its Sentinels, service and database, and wherever a URL is shown every
credential in it is masked (``session_service.settings.urls``)."""

from __future__ import annotations

import pytest

from session_service import SessionSettings
from session_service.settings import normalize_db_url, split_sentinel_url

from .conftest import SECRET
from .conftest import config_error as _config_error

# -- URL mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "normalized"),
    [
        ("postgres://u:p@h:5432/d", "postgres", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgresql://u:p@h/d", "postgres", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgres", "postgresql+asyncpg://u@h/d"),
        ("postgresql:///d", "postgres", "postgresql+asyncpg://127.0.0.1/d"),
        ("sqlite:////srv/s.sqlite", "sqlite", "sqlite+aiosqlite:////srv/s.sqlite"),
        ("sqlite:///rel/s.sqlite", "sqlite", "sqlite+aiosqlite:///rel/s.sqlite"),
        ("sqlite+aiosqlite:////x.db", "sqlite", "sqlite+aiosqlite:////x.db"),
    ],
)
def test_database_urls_map_to_the_async_drivers(
    env: dict[str, str], raw: str, kind: str, normalized: str
) -> None:
    assert normalize_db_url(raw) == (kind, normalized)
    env["SESSION_DB_URL"] = raw
    settings = SessionSettings.from_env(env)
    assert (settings.store_kind, settings.db_url) == (kind, normalized)


@pytest.mark.parametrize(
    "raw", ["mysql://u@h/d", "valkey://h", "sqlite:///:memory:", "sqlite://", "memory:///x"]
)
def test_unsupported_database_urls_are_refused(env: dict[str, str], raw: str) -> None:
    env["SESSION_DB_URL"] = raw
    assert "SESSION_DB_URL" in _config_error(env)


def test_unsupported_url_error_hides_its_password(env: dict[str, str]) -> None:
    env["SESSION_DB_URL"] = "mysql://u:pw-hunter2@h/d"
    assert "pw-hunter2" not in _config_error(env)


# -- Redis through Sentinel ----------------------------------------------------------------

SENTINEL_URL = (
    "redis+sentinel://:pw-hunter2@10.0.0.1:26380,[fd00::2]/sessions/2"
    "?key_prefix=app:&sentinel_password=sp-hunter3"
)


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database() -> None:
    kind, url = normalize_db_url(SENTINEL_URL)
    assert (kind, url) == ("redis", SENTINEL_URL)
    sentinels, service, db = split_sentinel_url(url)
    assert sentinels == (("10.0.0.1", 26380), ("fd00::2", 26379))  # 26379 by default
    assert (service, db) == ("sessions", 2)
    assert split_sentinel_url("rediss+sentinel://s1/main")[1:] == ("main", 0)


def test_cluster_accepts_a_sentinel_url_and_never_shows_its_passwords(
    cluster_env: dict[str, str],
) -> None:
    cluster_env["SESSION_DB_URL"] = SENTINEL_URL
    settings = SessionSettings.from_env(cluster_env)
    assert (settings.deployment, settings.store_kind) == ("cluster", "redis")
    for shown in (repr(settings), settings.display_url):
        assert "pw-hunter2" not in shown and "sp-hunter3" not in shown
    assert settings.display_url.startswith("redis+sentinel://:***@10.0.0.1:26380,[fd00::2]/")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("redis+sentinel://s1:26379", "names no service"),
        ("redis+sentinel://s1:26379/", "names no service"),
        ("rediss+sentinel://s1:port/main", "invalid port"),
        ("redis+sentinel://s1,,s2/main", "address is empty"),
        ("redis+sentinel://s1/main/zero", "database must be a number"),
    ],
)
def test_bad_sentinel_urls_are_refused_at_start_up(env: dict[str, str], raw: str, why: str) -> None:
    env["SESSION_DB_URL"] = raw.replace("://", "://:pw-hunter2@")
    message = _config_error(env)
    assert "SESSION_DB_URL" in message and why in message
    assert "pw-hunter2" not in message


# -- masking ------------------------------------------------------------------------------


def test_an_unparsable_url_error_masks_its_password(env: dict[str, str]) -> None:
    env["SESSION_DB_URL"] = "postgresql://app:p@ss:w/rd%?#@host/db"
    message = _config_error(env)
    assert "SESSION_DB_URL" in message and "@host/db" in message
    assert "ss:w" not in message and "rd%" not in message


@pytest.mark.parametrize(
    ("raw", "hidden", "kept"),
    [
        ("postgresql://app:pw-hunter2@db/app", ["pw-hunter2"], ["app:***@db/app"]),
        ("postgresql://app@db/app?password=pw-hunter2", ["pw-hunter2"], ["?password=***"]),
        (
            "postgresql://app@db/app?sslmode=verify-full&sslpassword=pw-hunter2&sslkey=/k.pem",
            ["pw-hunter2", "/k.pem"],
            ["sslmode=verify-full", "sslpassword=***", "sslkey=***"],
        ),
        ("postgresql://app@db/app?passfile=/x/pgpass&token=t0k", ["/x/pgpass", "t0k"], []),
        ("postgresql://a:p@ss:w/rd%?x#@host/db?password=pw-hunter2", ["pw-hunter2", "ss:w"], []),
    ],
)
def test_mask_url_hides_every_credential(raw: str, hidden: list[str], kept: list[str]) -> None:
    from session_service.settings import mask_url

    masked = mask_url(raw)
    for secret in hidden:
        assert secret not in masked, masked
    for part in kept:
        assert part in masked, masked


def test_a_password_in_the_query_stays_out_of_every_repr(env: dict[str, str]) -> None:
    from session_service import DefaultSessionService

    env["SESSION_DB_URL"] = "postgresql://app@db.internal/app?password=pw-hunter2"
    env["SESSION_SECRET_KEY"] = SECRET
    settings = SessionSettings.from_env(env)
    service = DefaultSessionService(None, settings)
    for shown in (repr(settings), str(settings), repr(service), repr(service.get_session_store())):
        assert "pw-hunter2" not in shown and "password=***" in shown, shown
