"""The wheel ships every subpackage: ``[tool.setuptools] packages`` is an explicit list, so a
package directory missing from it installs from a checkout (editable) yet is absent from the
wheel, and ``import session_service`` breaks only for users."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "session_service").rglob("__init__.py")
    }
    assert on_disk - listed == set()
