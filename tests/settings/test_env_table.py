"""The environment variables are data (``session_service.settings.ENV_VARS``): one entry per
variable with the default and meaning a user reads, walked by ``from_env``; every setting
comes from exactly one of them, and the docs' table is printed from it."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from session_service.settings import ENV_VARS, SessionSettings
from session_service.settings.table import markdown_table

ROOT = Path(__file__).resolve().parents[2]


def test_every_variable_is_listed_once() -> None:
    names = [v.name for v in ENV_VARS]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"SESSION_[A-Z_]+|DEPLOYMENT", name) for name in names)
    assert all(v.default.strip() and v.meaning.strip() for v in ENV_VARS)


def test_every_setting_comes_from_exactly_one_variable(tmp_path: Path) -> None:
    """Walking the table fills each field of ``SessionSettings`` once: a new field without a
    variable, or two variables writing one field, fails here."""
    from session_service.settings.env import Reading

    reading = Reading()
    env = {"SESSION_DATA_DIR": str(tmp_path)}
    filled: list[str] = []
    for var in ENV_VARS:
        fields = var.parse(var.name, env.get(var.name, ""), reading)
        filled += fields
        reading.values.update(fields)
    assert sorted(filled) == sorted(f.name for f in dataclasses.fields(SessionSettings))


def test_a_variable_outside_the_table_is_not_read(tmp_path: Path) -> None:
    """``from_env`` reads what the table names and nothing else: every ``SESSION_*`` string in
    the settings code is a variable of the table."""
    code = "".join(p.read_text("utf-8") for p in (ROOT / "session_service/settings").glob("*.py"))
    quoted = set(re.findall(r"\"(SESSION_[A-Z_]+|DEPLOYMENT)\"", code))
    assert quoted == {v.name for v in ENV_VARS}


def test_the_table_has_a_row_per_variable_in_reading_order() -> None:
    table = markdown_table()
    assert table.splitlines()[:2] == ["| variable | default | meaning |", "|---|---|---|"]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \| (.+) \|$", table, re.MULTILINE)
    assert [name for name, _, _ in rows] == [v.name for v in ENV_VARS]
    assert rows[0][1] == ENV_VARS[0].default


def test_python_dash_m_prints_the_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "session_service.settings.table"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout == markdown_table()
    assert done.stderr == ""
