"""One CLI command as data: its handler, help, and which shared arguments it takes."""

from __future__ import annotations

import argparse
import ipaddress
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..backend import SessionStoreBackend
from . import output as out

Handler = Callable[[SessionStoreBackend, argparse.Namespace, out.Progress], Awaitable[out.Result]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    handler: Handler | None  # None: `health`, which opens no backend (a ping could fail)
    summary: str
    example: str
    user: bool = False  # takes USER_ID
    tenant: bool = False  # takes --tenant
    batched: bool = False  # takes --batch-size
    creates_database: bool = False
    verb: str = "deleted"  # what its running count counts
    arguments: Callable[[argparse.ArgumentParser], None] | None = None  # its own arguments


def batch_size(value: str) -> int:
    """A whole number of at least 1 (``--batch-size``, ``--limit``): one parser, so every
    command that takes one words its refusal alike."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def misplaced_user_hint(prog: str, args: argparse.Namespace, extras: list[str]) -> str | None:
    """How to write the user the way this command takes it, when ``extras`` (what argparse
    did not recognise) shows it written the other commands' way: ``unlock`` takes ``--user U``
    (or ``--ip``), the per-user commands take the id as is. ``None``: no such slip."""
    spec: Command = args.spec
    if spec.name == "unlock":
        word = next((e for e in extras if not e.startswith("-")), None)
        if word is None:
            return None
        try:
            ipaddress.ip_address(word)
        except ValueError:
            return f"give the user with --user: {prog} unlock --user {_shown(word)}"
        return f"give the address with --ip: {prog} unlock --ip {_shown(word)}"
    if spec.user and "--user" in extras:
        rest = f" {_shown(args.handle)}" if spec.name == "revoke" else ""
        return f"the user id goes without --user: {prog} {spec.name} {_shown(args.user_id)}{rest}"
    return None


def _shown(value: str) -> str:
    """A word as the shell would take it back, control characters escaped."""
    return shlex.quote(out.printable(value))
