"""Each ``make`` target a newcomer runs first installs only what it serves (issue 24: `make run`
used to install the whole `dev` extra, 388 MB of test and lint tools, to serve a demo).

``make -n`` on a virtualenv that does not exist yet prints the commands a fresh clone would
run, the ``pip install`` line among them, without running any.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

#: What each target may install on a fresh clone: the extras it needs, nothing more.
WANTED = {
    "run": {"demo"},
    "run-fastapi": {"fastapi"},
    "cli": {"redis", "encryption"},
    "docs": {"docs"},
}


def _extras_installed(target: str, venv: Path) -> list[set[str]]:
    done = subprocess.run(
        ["make", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = re.findall(r"pip install .*-e '\.\[([^\]]*)\]'", done.stdout)
    assert found, done.stdout
    return [set(extras.split(",")) for extras in found]


@pytest.mark.parametrize("target", sorted(WANTED))
def test_a_first_make_target_installs_only_its_extras(target: str, tmp_path: Path) -> None:
    assert _extras_installed(target, tmp_path / "venv") == [WANTED[target]]


def test_the_fastapi_extra_holds_what_the_example_imports() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"
    ]
    names = {re.split(r"[<>=\[ ]", spec, maxsplit=1)[0] for spec in extras["fastapi"]}
    tree = ast.parse((ROOT / "examples" / "fastapi_app.py").read_text("utf-8"))
    imported = {
        (node.module or "").partition(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0
    } | {
        alias.name.partition(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    third_party = imported - {"__future__", "session_service"}
    # uvicorn: what `make run-fastapi` serves it with.
    assert third_party | {"uvicorn"} <= names, (third_party | {"uvicorn"}) - names


def test_the_docs_extra_can_format_the_signatures_mkdocs_yml_asks_for() -> None:
    # separate_signature in mkdocs.yml needs Black or Ruff: without either, a `make docs` on a
    # fresh clone says so on every build and renders each signature as one long line.
    if "separate_signature: true" not in (ROOT / "mkdocs.yml").read_text("utf-8"):
        return
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"
    ]
    names = {re.split(r"[<>=\[ ]", spec, maxsplit=1)[0] for spec in extras["docs"]}
    assert names & {"ruff", "black"}, names
