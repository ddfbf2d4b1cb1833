"""How ``session-service`` shows things: tables and sentences for people, JSON for scripts.

Kept apart from :mod:`.cli` (what each command does) so the rules about what may reach a
terminal live in one place:

* Text that came from the database (user ids, tenant ids, data keys) is attacker-influenced,
  so control characters are escaped before they reach a terminal: a user id holding an ANSI
  escape sequence must not be able to rewrite the operator's screen.
* Tables and ``--json`` name a session by its handle (what the devices page and ``revoke``
  use). Stores keep only a hash of each id (docs/security.md), so no id can be shown, and
  the hash is not shown either.
* Counts for people have thousands separators (``1,001 sessions``); ``--json`` has plain
  numbers.
* ``--json`` writes exactly one JSON document to stdout, ASCII-only, so it parses the same
  whatever the locale of the cron job or the pipe.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from .._words import plural as plural  # the commands' `out.plural`, written once in _words
from ..devices import device_label

if TYPE_CHECKING:
    from ..records import SessionRecord
    from ..stores.protocol import StoreStats


@dataclass(frozen=True, slots=True)
class Result:
    """What a command found or did: a sentence or table for people, a document for ``--json``."""

    text: str
    document: Any
    #: The command ran and what it found is a failure (``health``: the store is down): it is
    #: printed as usual, and the exit code is 1.
    failed: bool = False
    #: Printed on stderr, not stdout (``export`` without ``-o``: stdout carries the data).
    to_stderr: bool = False


def printable(value: str) -> str:
    """``value`` with every non-printable character escaped (``\\n``, ``\\x1b``, ``\\u200b``)."""
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in value)


def when(moment: datetime | None) -> str:
    """A UTC timestamp to the second, for tables (headers say the zone)."""
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def iso(moment: datetime | None) -> str | None:
    """A timestamp for ``--json``: ISO 8601 with its offset, or null."""
    return None if moment is None else moment.isoformat()


def for_user(user_id: str, tenant_id: str | None) -> str:
    """``for user alice`` or ``for user alice in tenant t1``: the tail of every user sentence."""
    tail = f"for user {printable(user_id)}"
    return tail if tenant_id is None else f"{tail} in tenant {printable(tenant_id)}"


def _width(text: str) -> int:
    # East Asian wide and full-width characters take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns aligned under their headers; numbers right-aligned, text left-aligned.

    Cells are passed through :func:`printable`, so callers can hand over database values as
    they are.
    """
    cells = [[f"{c:,}" if _is_count(c) else printable(str(c)) for c in row] for row in rows]
    numeric = [
        bool(rows) and all(isinstance(row[i], int) for row in rows) for i in range(len(headers))
    ]
    widths = [max([_width(h)] + [_width(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        out = []
        for i, value in enumerate(values):
            pad = " " * (widths[i] - _width(value))
            out.append(pad + value if numeric[i] else value + pad)
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), *(line(row) for row in cells)])


def _is_count(cell: object) -> bool:
    return isinstance(cell, int) and not isinstance(cell, bool)


def most_recent_first(records: Sequence[SessionRecord]) -> list[SessionRecord]:
    """Most recently seen (else active) first, as the devices page lists them."""

    def recency(r: SessionRecord) -> float:
        moment = r.last_seen or r.updated_at or r.created_at
        return moment.timestamp() if moment is not None else 0.0

    return sorted(records, key=recency, reverse=True)


def _device(record: SessionRecord) -> str:
    """The readable label, or ``-`` for a session created while device tracking was off."""
    return "-" if record.user_agent is None else device_label(record.user_agent)


def session_document(record: SessionRecord, *, with_data: bool) -> dict[str, Any]:
    """One session for ``--json``: its handle (never its id or the id's hash: neither is
    stored or shown, docs/security.md), timestamps, and the data only when asked."""
    doc: dict[str, Any] = {
        "user_id": record.user_id,
        "tenant_id": record.tenant_id,
        "created_at": iso(record.created_at),
        "last_active_at": iso(record.updated_at),
        "expires_at": iso(record.expiry_date),
        "handle": record.handle,
        "ip": record.ip,
        "device": None if record.user_agent is None else device_label(record.user_agent),
        "user_agent": record.user_agent,
        "last_seen_at": iso(record.last_seen),
    }
    if with_data:
        doc["data"] = record.data
    return doc


def sessions_table(records: Sequence[SessionRecord], *, dump: bool) -> str:
    """Sessions as a table, by handle; ``dump`` adds the user and the data's keys (never its
    values). The device columns are ``-`` for sessions created while tracking was off."""
    headers = [
        "HANDLE",
        "USER",
        "TENANT",
        "DEVICE",
        "IP",
        "CREATED (UTC)",
        "LAST SEEN (UTC)",
        "EXPIRES (UTC)",
    ]
    rows: list[list[object]] = [
        [r.handle or "-", r.user_id or "-", r.tenant_id or "-", _device(r), r.ip or "-",
         when(r.created_at), when(r.last_seen), when(r.expiry_date)]
        for r in records
    ]  # fmt: skip
    if dump:
        headers.append("KEYS")
        for row, r in zip(rows, records, strict=True):
            row.append(", ".join(sorted(r.data)) or "-")
    else:  # every row is the same user, named in the sentence above the table
        del headers[1]
        for row in rows:
            del row[1]
    return table(headers, rows)


def stats_document(stats: StoreStats) -> dict[str, Any]:
    """``stats --json``; ``per_tenant`` is a list because "no tenant" needs a null key."""
    return {
        "total": stats.total,
        "live": stats.live,
        "expired": stats.expired,
        "distinct_users": stats.distinct_users,
        "per_tenant": [{"tenant_id": t, "live": n} for t, n in _tenants(stats)],
    }


def stats_text(stats: StoreStats) -> str:
    """The totals, then live sessions per tenant (no-tenant first, then by name)."""
    summary = table(
        ["SESSIONS", "COUNT"],
        [
            ["total", stats.total],
            ["live", stats.live],
            ["expired (awaiting cleanup)", stats.expired],
            ["distinct users (live)", stats.distinct_users],
        ],
    )
    tenants = _tenants(stats)
    if not tenants:
        return summary
    return summary + "\n\n" + table(["TENANT", "LIVE"], [[t or "(none)", n] for t, n in tenants])


def _tenants(stats: StoreStats) -> list[tuple[str | None, int]]:
    return sorted(stats.per_tenant.items(), key=lambda kv: (kv[0] is not None, kv[0] or ""))


def write_json(stream: TextIO, document: Any) -> None:
    """One JSON document and a newline (ASCII escapes keep it valid under any locale)."""
    stream.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")


class Progress:
    """A running count on stderr for the batched deletes, when a person is watching.

    Passed as the store's ``on_progress``; it only writes when the stream is a terminal, so
    cron mail and log files stay clean. It remembers the last count so an interrupted run can
    say how much was already deleted (each batch is its own transaction and stays deleted).
    """

    def __init__(self, stream: TextIO, verb: str = "deleted") -> None:
        self._stream = stream
        self._verb = verb
        self._live = _isatty(stream)
        self._shown = False
        self.count = 0

    def __call__(self, total: int) -> None:
        self.count = total
        if self._live:
            self._stream.write(f"\r{self._verb} {total:,}…")
            self._stream.flush()
            self._shown = True

    def finish(self) -> None:
        """Erase the running count so the final sentence stands alone."""
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or fake stream
        return False
