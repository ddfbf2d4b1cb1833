"""``session-service`` typed alone, the first thing a newcomer tries: the command list and
what each does (the full help), exit 2 as for any usage error, nothing on stdout."""

from __future__ import annotations

import argparse
from pathlib import Path

from session_service.cli import build_parser

from .test_cli import run


def test_no_command_prints_every_command_with_what_it_does(tmp_path: Path) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    done = run(data_dir=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    for name in sub.choices:
        assert f"    {name}" in done.stderr, name
    assert "sign a user out everywhere" in done.stderr
