"""The cookie-lifetime settings (``docs/configuration.md``): ``SESSION_COOKIE_PERSISTENT``,
``SESSION_COOKIE_PARTITIONED`` and ``SESSION_ROLLING`` (defaults, parsing, validation) and
the ``Set-Cookie`` they give."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_service import SessionConfigError, SessionSettings
from session_service.web.cookie import CookieCodec

SECRET = "k" * 40


def settings(tmp_path: Path, **env: str) -> SessionSettings:
    return SessionSettings.from_env(
        {"SESSION_DATA_DIR": str(tmp_path), "SESSION_SECRET_KEY": SECRET, **env}
    )


def test_defaults_persistent_not_partitioned_rolling(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert s.cookie_persistent and not s.cookie_partitioned and s.rolling
    header = CookieCodec(s).set_header("sid").decode()
    assert "Max-Age=" in header and "Partitioned" not in header


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("SESSION_COOKIE_PERSISTENT", "cookie_persistent"),
        ("SESSION_ROLLING", "rolling"),
    ],
)
@pytest.mark.parametrize(("raw", "value"), [("false", False), ("0", False), ("TRUE", True)])
def test_boolean_settings_parse(
    tmp_path: Path, variable: str, field: str, raw: str, value: bool
) -> None:
    assert getattr(settings(tmp_path, **{variable: raw}), field) is value


@pytest.mark.parametrize(
    "variable", ["SESSION_COOKIE_PERSISTENT", "SESSION_COOKIE_PARTITIONED", "SESSION_ROLLING"]
)
def test_a_bad_boolean_names_the_variable(tmp_path: Path, variable: str) -> None:
    with pytest.raises(SessionConfigError, match=variable):
        settings(tmp_path, **{variable: "maybe"})


def test_partitioned_requires_secure(tmp_path: Path) -> None:
    with pytest.raises(SessionConfigError, match=r"SESSION_COOKIE_PARTITIONED.*SECURE"):
        settings(tmp_path, SESSION_COOKIE_PARTITIONED="true")
    s = settings(tmp_path, SESSION_COOKIE_PARTITIONED="true", SESSION_COOKIE_SECURE="true")
    assert "; Secure; Partitioned" in CookieCodec(s).set_header("sid").decode()


def test_browser_session_cookie_carries_no_lifetime_even_when_one_is_asked(
    tmp_path: Path,
) -> None:
    codec = CookieCodec(settings(tmp_path, SESSION_COOKIE_PERSISTENT="false"))
    for header in (codec.set_header("sid"), codec.set_header("sid", max_age=30)):
        assert b"Max-Age" not in header and b"Expires" not in header
    assert b"Max-Age=0" in codec.clear_header()  # deleting it still works


def test_fixed_expiry_cookie_carries_what_is_left(tmp_path: Path) -> None:
    codec = CookieCodec(settings(tmp_path, SESSION_TTL_SECONDS="600"))
    assert b"; Max-Age=30;" in codec.set_header("sid", max_age=30)
    assert b"; Max-Age=1;" in codec.set_header("sid", max_age=-5)  # never a deleting 0
