"""``alembic`` with a Redis URL in an install without the ``redis`` extra: refused because
Alembic migrates only SQL stores, not told to install a package that would change nothing
(with it installed, the same URL is refused for what it is)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())

# The alembic console script's own entry point, with the redis package made unimportable.
_ALEMBIC_WITHOUT_REDIS = (
    "import sys; sys.modules['redis'] = None\n"
    "from alembic.config import main\n"
    "sys.exit(main(argv=sys.argv[1:]))"
)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "redis+cluster://127.0.0.1:7000"])
@pytest.mark.parametrize("how", ["-x", "SESSION_DB_URL"])
def test_alembic_refuses_a_redis_url_without_the_redis_extra(
    tmp_path: Path, url: str, how: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
    env["SESSION_DATA_DIR"] = str(tmp_path)
    args = ["upgrade", "head"]
    if how == "-x":
        args = ["-x", f"db_url={url}", *args]
    else:
        env["SESSION_DB_URL"] = url
    done = subprocess.run(
        [sys.executable, "-c", _ALEMBIC_WITHOUT_REDIS, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], done.stdout + done.stderr
    assert "Alembic migrates the SQL stores" in lines[0], lines[0]
    assert "pip install" not in lines[0], lines[0]
    assert not (tmp_path / "sessions.sqlite").exists()
