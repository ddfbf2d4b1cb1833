"""What the settings tests share: an environment of their own (``SESSION_DATA_DIR`` in a
temporary directory, never ``os.environ``), a cluster one, and the error a bad one gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_service import SessionConfigError, SessionSettings

SECRET = "k" * 24 + "-the-real-secret-value-0123456789"
PG_URL = "postgresql://app:pw-hunter2@db.internal:5432/sessions"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"SESSION_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def cluster_env(tmp_path: Path) -> dict[str, str]:
    return {
        "SESSION_DATA_DIR": str(tmp_path / "data"),
        "DEPLOYMENT": "cluster",
        "SESSION_DB_URL": PG_URL,
        "SESSION_SECRET_KEY": SECRET,
    }


def config_error(environ: dict[str, str]) -> str:
    with pytest.raises(SessionConfigError) as caught:
        SessionSettings.from_env(environ)
    return str(caught.value)
