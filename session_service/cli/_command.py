"""One CLI command as data: its handler, help, and which shared arguments it takes."""

from __future__ import annotations

import argparse
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
