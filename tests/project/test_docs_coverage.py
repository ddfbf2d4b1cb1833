"""What the docs promise to cover, checked against the code, so a new method or command cannot
ship undocumented: every public method and property of every class in
``session_service.__all__`` has a docstring (the API reference is generated from them), and
the command table of ``docs/operations.md`` lists every command ``session-service`` has."""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import session_service
from session_service.cli import build_parser

# The checkout's root, wherever under tests/ this file is moved.
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def _undocumented(cls: type) -> list[str]:
    """Public callables and properties defined on ``cls`` itself whose docstring (their own, or
    the one they inherit from the method they override) is empty."""
    missing = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        public = isinstance(member, property) or callable(getattr(member, "__func__", member))
        if public and not (inspect.getdoc(getattr(cls, name)) or "").strip():
            missing.append(f"{cls.__name__}.{name}")
    return missing


def test_every_public_member_of_an_exported_class_has_a_docstring() -> None:
    classes = [getattr(session_service, n) for n in session_service.__all__]
    missing = [m for cls in classes if inspect.isclass(cls) for m in _undocumented(cls)]
    assert missing == []


def test_the_docstring_check_sees_a_missing_docstring() -> None:
    class Shown:
        def documented(self) -> None:
            """Says why."""

        def bare(self) -> None:
            pass

        @property
        def bare_property(self) -> int:
            return 1

    assert _undocumented(Shown) == ["Shown.bare", "Shown.bare_property"]


def _commands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name for action in actions for name in action.choices}


def test_the_operations_page_lists_every_command() -> None:
    page = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `session-service ([a-z-]+)", page, re.MULTILINE))
    assert len(_commands()) >= 10  # the parser was read, not an empty set
    assert _commands() - listed == set(), "add a row to the table of docs/operations.md"
