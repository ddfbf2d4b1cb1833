"""``SESSION_MAX_PER_USER`` and ``SESSION_ROTATE_ON_USER_CHANGE``: defaults, bounds, errors
that name the variable."""

from __future__ import annotations

import pytest

from session_service import SessionConfigError, SessionSettings

BASE = {"SESSION_SECRET_KEY": "k" * 40, "SESSION_DB_URL": "memory://"}


def _settings(**env: str) -> SessionSettings:
    return SessionSettings.from_env({**BASE, **env})


def test_defaults_are_unlimited_and_rotating() -> None:
    settings = _settings()
    assert settings.max_per_user == 0
    assert settings.rotate_on_user_change is True


def test_values_are_read() -> None:
    settings = _settings(SESSION_MAX_PER_USER="5", SESSION_ROTATE_ON_USER_CHANGE="false")
    assert settings.max_per_user == 5
    assert settings.rotate_on_user_change is False


@pytest.mark.parametrize("raw", ["-1", "five", "1.5", "1000001"])
def test_a_bad_max_per_user_names_the_variable(raw: str) -> None:
    with pytest.raises(SessionConfigError, match="SESSION_MAX_PER_USER"):
        _settings(SESSION_MAX_PER_USER=raw)


def test_a_bad_rotate_flag_names_the_variable() -> None:
    with pytest.raises(SessionConfigError, match="SESSION_ROTATE_ON_USER_CHANGE"):
        _settings(SESSION_ROTATE_ON_USER_CHANGE="sometimes")


def test_the_store_gets_the_limit() -> None:
    from session_service import DefaultSessionService

    service = DefaultSessionService(None, _settings(SESSION_MAX_PER_USER="3"))
    assert service.get_session_store().store.max_per_user == 3  # type: ignore[attr-defined]
