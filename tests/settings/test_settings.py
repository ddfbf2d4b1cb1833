"""``SessionSettings.from_env``: every variable of ``docs/configuration.md``, its default and
its validation.

Each test passes an explicit environment (never ``os.environ``) with ``SESSION_DATA_DIR`` in a
temporary directory, so nothing is read from or written to the developer's machine.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from session_service import SessionSettings

from .conftest import PG_URL, SECRET
from .conftest import config_error as _config_error

# -- defaults ------------------------------------------------------------------------------


def test_standalone_defaults(env: dict[str, str], tmp_path: Path) -> None:
    settings = SessionSettings.from_env(env)
    data_dir = tmp_path / "data"
    assert settings.deployment == "standalone"
    assert settings.data_dir == data_dir
    assert settings.store_kind == "sqlite"
    assert settings.db_url == f"sqlite+aiosqlite:///{data_dir / 'sessions.sqlite'}"
    assert settings.ttl_seconds == 1_209_600
    assert settings.cookie_name == "session_id"
    assert settings.cookie_secure is False
    assert settings.cookie_samesite == "strict"
    assert settings.cookie_domain is None
    assert settings.cookie_path == "/"
    assert settings.secret_key_fallbacks == ()


def test_data_dir_defaults_to_dot_session_data_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = SessionSettings.from_env({})
    assert settings.data_dir == tmp_path / ".session-data"
    assert (tmp_path / ".session-data" / "secret_key").exists()


def test_cluster_defaults(cluster_env: dict[str, str]) -> None:
    settings = SessionSettings.from_env(cluster_env)
    assert settings.deployment == "cluster"
    assert settings.store_kind == "postgres"
    assert settings.cookie_secure is True
    assert settings.secret_key == SECRET


def test_settings_are_frozen(env: dict[str, str]) -> None:
    settings = SessionSettings.from_env(env)
    with pytest.raises(AttributeError):
        settings.ttl_seconds = 5  # type: ignore[misc]


# -- every variable, set -------------------------------------------------------------------


def test_every_variable_is_read(env: dict[str, str]) -> None:
    env.update(
        {
            "SESSION_DB_URL": "postgres://u:p@db:5433/s",
            "SESSION_SECRET_KEY": SECRET,
            "SESSION_SECRET_KEY_FALLBACKS": " old-key-1 , old-key-2,,",
            "SESSION_TTL_SECONDS": "3600",
            "SESSION_COOKIE_NAME": "my.sess-id_2",
            "SESSION_COOKIE_SECURE": "yes",
            "SESSION_COOKIE_SAMESITE": "None",
            "SESSION_COOKIE_DOMAIN": "example.com",
            "SESSION_COOKIE_PATH": "/app",
        }
    )
    settings = SessionSettings.from_env(env)
    assert settings.store_kind == "postgres"
    assert settings.db_url == "postgresql+asyncpg://u:p@db:5433/s"
    assert settings.secret_key == SECRET
    assert settings.secret_key_fallbacks == ("old-key-1", "old-key-2")
    assert settings.ttl_seconds == 3600
    assert settings.cookie_name == "my.sess-id_2"
    assert settings.cookie_secure is True
    assert settings.cookie_samesite == "none"
    assert settings.cookie_domain == "example.com"
    assert settings.cookie_path == "/app"


@pytest.mark.parametrize("value", ["strict", "lax", "LAX", " Strict "])
def test_samesite_values(env: dict[str, str], value: str) -> None:
    env["SESSION_COOKIE_SAMESITE"] = value
    assert SessionSettings.from_env(env).cookie_samesite == value.strip().lower()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("on", True), ("FALSE", False), ("0", False), ("no", False)],
)
def test_cookie_secure_values(env: dict[str, str], raw: str, expected: bool) -> None:
    env["SESSION_COOKIE_SECURE"] = raw
    assert SessionSettings.from_env(env).cookie_secure is expected


def test_cluster_may_turn_cookie_secure_off_explicitly(cluster_env: dict[str, str]) -> None:
    cluster_env["SESSION_COOKIE_SECURE"] = "false"
    assert SessionSettings.from_env(cluster_env).cookie_secure is False


def test_deployment_is_case_insensitive(cluster_env: dict[str, str]) -> None:
    cluster_env["DEPLOYMENT"] = "Cluster"
    assert SessionSettings.from_env(cluster_env).deployment == "cluster"


def test_empty_values_mean_the_default(env: dict[str, str]) -> None:
    for name in (
        "SESSION_TTL_SECONDS",
        "SESSION_COOKIE_NAME",
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_SAMESITE",
        "SESSION_COOKIE_PATH",
        "SESSION_COOKIE_DOMAIN",
        "DEPLOYMENT",
    ):
        env[name] = ""
    settings = SessionSettings.from_env(env)
    assert (settings.ttl_seconds, settings.cookie_name, settings.cookie_path) == (
        1_209_600,
        "session_id",
        "/",
    )
    assert settings.deployment == "standalone"


# -- cluster mode --------------------------------------------------------------------------


def test_cluster_refuses_sqlite(cluster_env: dict[str, str]) -> None:
    cluster_env["SESSION_DB_URL"] = "sqlite:////tmp/s.sqlite"
    message = _config_error(cluster_env)
    assert "SESSION_DB_URL" in message
    assert SECRET not in message


def test_cluster_refuses_the_default_sqlite(cluster_env: dict[str, str]) -> None:
    del cluster_env["SESSION_DB_URL"]
    assert "SESSION_DB_URL" in _config_error(cluster_env)


def test_cluster_requires_a_secret(cluster_env: dict[str, str], tmp_path: Path) -> None:
    del cluster_env["SESSION_SECRET_KEY"]
    assert "SESSION_SECRET_KEY" in _config_error(cluster_env)
    assert not (tmp_path / "data" / "secret_key").exists()  # never generated in a cluster


def test_cluster_refuses_a_short_secret_without_showing_it(cluster_env: dict[str, str]) -> None:
    short = "tiny-but-secret-value"
    cluster_env["SESSION_SECRET_KEY"] = short
    message = _config_error(cluster_env)
    assert "SESSION_SECRET_KEY" in message
    assert short not in message


def test_cluster_errors_never_show_the_database_password(cluster_env: dict[str, str]) -> None:
    del cluster_env["SESSION_SECRET_KEY"]
    assert "pw-hunter2" not in _config_error(cluster_env)


# -- the standalone secret -----------------------------------------------------------------


def test_standalone_secret_is_generated_once_and_reused(
    env: dict[str, str], tmp_path: Path
) -> None:
    first = SessionSettings.from_env(env)
    key_file = tmp_path / "data" / "secret_key"
    assert key_file.read_text().strip() == first.secret_key
    assert len(first.secret_key) >= 32
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    second = SessionSettings.from_env(env)
    assert second.secret_key == first.secret_key


def test_standalone_secrets_differ_between_data_dirs(tmp_path: Path) -> None:
    a = SessionSettings.from_env({"SESSION_DATA_DIR": str(tmp_path / "a")})
    b = SessionSettings.from_env({"SESSION_DATA_DIR": str(tmp_path / "b")})
    assert a.secret_key != b.secret_key


def test_explicit_secret_wins_and_no_file_is_written(env: dict[str, str], tmp_path: Path) -> None:
    env["SESSION_SECRET_KEY"] = SECRET
    assert SessionSettings.from_env(env).secret_key == SECRET
    assert not (tmp_path / "data" / "secret_key").exists()


def test_unwritable_data_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    message = _config_error({"SESSION_DATA_DIR": str(blocker / "sub")})
    assert str(blocker / "sub") in message
    assert "SESSION_SECRET_KEY" in message or "SESSION_DATA_DIR" in message


# -- nothing secret is ever shown ---------------------------------------------------------


def test_repr_and_str_never_show_secrets(env: dict[str, str]) -> None:
    env.update(
        {
            "SESSION_DB_URL": PG_URL,
            "SESSION_SECRET_KEY": SECRET,
            "SESSION_SECRET_KEY_FALLBACKS": "old-fallback-key-1,old-fallback-key-2",
        }
    )
    settings = SessionSettings.from_env(env)
    for shown in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert SECRET not in shown
        assert "old-fallback-key" not in shown
        assert "pw-hunter2" not in shown
    assert "db.internal" in repr(settings)  # the masked URL is there to help debugging


def test_repr_of_generated_secret_settings_hides_the_key(env: dict[str, str]) -> None:
    settings = SessionSettings.from_env(env)
    assert settings.secret_key not in repr(settings)


# -- invalid values name the variable -----------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SESSION_TTL_SECONDS", "abc"),
        ("SESSION_TTL_SECONDS", "0"),
        ("SESSION_TTL_SECONDS", "-5"),
        ("SESSION_TTL_SECONDS", "1.5"),
        ("SESSION_COOKIE_SAMESITE", "weird"),
        ("SESSION_COOKIE_SECURE", "maybe"),
        ("DEPLOYMENT", "prod"),
        ("SESSION_COOKIE_NAME", "bad name;"),
        ("SESSION_COOKIE_PATH", "no-leading-slash"),
        ("SESSION_COOKIE_PATH", "/a;b"),
        ("SESSION_COOKIE_DOMAIN", "evil.com; Secure"),
        ("SESSION_COOKIE_NAME", "セッション"),
        ("SESSION_COOKIE_NAME", "séssion"),
        ("SESSION_COOKIE_PATH", "/日本"),
        ("SESSION_COOKIE_PATH", "/a\r\nX-Injected:1"),
        ("SESSION_COOKIE_DOMAIN", "bücher.example"),
        ("SESSION_COOKIE_DOMAIN", "a.example\x00"),
        ("SESSION_DB_URL", "not a url at all"),
        ("SESSION_DB_URL", "postgresql://app:p@ss:w/rd%?#@host/db"),
        ("SESSION_DB_URL", "postgresql://app:pw@host:99999999/db"),
        ("SESSION_TTL_SECONDS", "99999999999999"),
        ("SESSION_TTL_SECONDS", str(10 * 366 * 24 * 3600 + 1)),
        ("SESSION_MAX_BYTES", "99999999999999"),
        ("SESSION_CLEANUP_INTERVAL_SECONDS", "99999999999999"),
        ("SESSION_DB_TIMEOUT_SECONDS", "0"),
        ("SESSION_DB_TIMEOUT_SECONDS", "-1"),
        ("SESSION_DB_TIMEOUT_SECONDS", "nan"),
        ("SESSION_DB_TIMEOUT_SECONDS", "inf"),
        ("SESSION_DB_TIMEOUT_SECONDS", "1e9"),
        ("SESSION_DB_TIMEOUT_SECONDS", "soon"),
    ],
)
def test_invalid_value_names_the_variable(env: dict[str, str], variable: str, value: str) -> None:
    env["SESSION_SECRET_KEY"] = SECRET
    env[variable] = value
    message = _config_error(env)
    assert variable in message
    assert SECRET not in message


def test_samesite_none_requires_secure(env: dict[str, str]) -> None:
    env["SESSION_COOKIE_SAMESITE"] = "none"
    message = _config_error(env)
    assert "SESSION_COOKIE_SAMESITE" in message
    assert "SESSION_COOKIE_SECURE" in message
    env["SESSION_COOKIE_SECURE"] = "true"
    assert SessionSettings.from_env(env).cookie_samesite == "none"


def test_samesite_none_is_fine_in_cluster_where_secure_is_the_default(
    cluster_env: dict[str, str],
) -> None:
    cluster_env["SESSION_COOKIE_SAMESITE"] = "none"
    settings = SessionSettings.from_env(cluster_env)
    assert (settings.cookie_samesite, settings.cookie_secure) == ("none", True)


def test_config_error_is_a_value_error(env: dict[str, str]) -> None:
    env["SESSION_TTL_SECONDS"] = "abc"
    with pytest.raises(ValueError, match="SESSION_TTL_SECONDS"):
        SessionSettings.from_env(env)


def test_processes_starting_at_once_agree_on_one_generated_secret(env: dict[str, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: SessionSettings.from_env(env).secret_key, range(16)))
    assert len(keys) == 1


def test_cleanup_interval_and_max_bytes(env: dict[str, str]) -> None:
    settings = SessionSettings.from_env(env)
    assert (settings.cleanup_interval_seconds, settings.max_bytes) == (3600, 64 * 1024)
    env.update({"SESSION_CLEANUP_INTERVAL_SECONDS": "0", "SESSION_MAX_BYTES": "4096"})
    settings = SessionSettings.from_env(env)
    assert (settings.cleanup_interval_seconds, settings.max_bytes) == (0, 4096)
    env["SESSION_MAX_BYTES"] = "10"
    assert "SESSION_MAX_BYTES" in _config_error(env)


@pytest.mark.parametrize("content", ["", "  \n"])
def test_an_empty_key_file_is_never_used_as_the_secret(
    env: dict[str, str], tmp_path: Path, content: str
) -> None:
    key_file = tmp_path / "data" / "secret_key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text(content)
    message = _config_error(env)
    assert str(key_file) in message
    assert "empty" in message


def test_a_key_file_written_by_the_operator_is_used(env: dict[str, str], tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "secret_key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("operator-chosen-key-0123456789abcdef\n")
    assert SessionSettings.from_env(env).secret_key == "operator-chosen-key-0123456789abcdef"


def test_db_timeout_defaults_to_5_seconds_and_takes_fractions(env: dict[str, str]) -> None:
    assert SessionSettings.from_env(env).db_timeout_seconds == 5.0
    env["SESSION_DB_TIMEOUT_SECONDS"] = "2.5"
    assert SessionSettings.from_env(env).db_timeout_seconds == 2.5


def test_the_longest_ttl_allowed_still_makes_a_valid_expiry(env: dict[str, str]) -> None:
    from datetime import UTC, datetime, timedelta

    env["SESSION_TTL_SECONDS"] = str(10 * 366 * 24 * 3600)
    ttl = SessionSettings.from_env(env).ttl_seconds
    assert datetime.now(UTC) + timedelta(seconds=ttl) < datetime(9999, 1, 1, tzinfo=UTC)
