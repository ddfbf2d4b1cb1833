"""The user named the other command's way: ``unlock`` takes ``--user U`` (a lock is a user
*or* an ip), while ``clear-user``, ``count-user``, ``list-user`` and ``revoke`` take the user
id as is. Typed the wrong way, argparse's bare "unrecognized arguments" is a dead end; the
error says how to write it instead (a usage error: exit 2, nothing on stdout, nothing done)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .test_cli import run


def _usage_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "" and "Traceback" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_unlock_with_the_user_as_a_word_says_to_use_dash_dash_user(tmp_path: Path) -> None:
    line = _usage_error(run("unlock", "alice", data_dir=tmp_path))
    assert "give the user with --user: session-service unlock --user alice" in line, line


def test_unlock_with_an_address_as_a_word_says_to_use_dash_dash_ip(tmp_path: Path) -> None:
    line = _usage_error(run("unlock", "203.0.113.7", data_dir=tmp_path))
    assert "give the address with --ip: session-service unlock --ip 203.0.113.7" in line, line


@pytest.mark.parametrize("command", ["clear-user", "count-user", "list-user"])
def test_a_user_command_with_dash_dash_user_says_to_drop_it(command: str, tmp_path: Path) -> None:
    line = _usage_error(run(command, "--user", "alice", data_dir=tmp_path))
    assert f"the user id goes without --user: session-service {command} alice" in line, line


def test_revoke_with_dash_dash_user_says_to_drop_it(tmp_path: Path) -> None:
    line = _usage_error(run("revoke", "--user", "alice", "Xq3k9f0aB2cD1eFg", data_dir=tmp_path))
    assert "the user id goes without --user: session-service revoke alice" in line, line


def test_other_stray_words_keep_argparse_s_own_error(tmp_path: Path) -> None:
    line = _usage_error(run("stats", "alice", data_dir=tmp_path))
    assert line.endswith("error: unrecognized arguments: alice"), line
