"""The export file: JSON lines, a version header first and a count line last.

One JSON object a line (UTF-8), so a file of any size is written and read a line at a time:

* first ``{"format": "session-service-export", "version": 1, "exported_at": ISO, "store":
  KIND, "counters": BOOL}``;
* then ``{"type": "session", "key": …, "data": {…}, "expiry_date": ISO, "created_at": ISO,
  "updated_at": ISO, "user_id", "tenant_id", "ip", "user_agent", "last_seen", "handle"}`` per
  session (``key`` is the store's own key for the row, ``data`` the data as stored), and with
  ``--counters`` ``{"type": "limit", "key", "hits": [ms…], "expires_at": ms, "limit",
  "window_ms"}`` and ``{"type": "counter", "key", "value", "expires_at"}``;
* last ``{"type": "end", "sessions": N, "limits": N, "counters": N}``: a file without it was
  cut short.

Times are ISO 8601 in UTC with microseconds (what every store keeps); the limits' are the
wall clock's milliseconds, as they are stored. Errors name the line number, never its text
(a line holds a credential).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from ..errors import SessionConfigError, SessionDataError
from ..records import utcnow
from ..stores._transfer import CounterEntry, LimitEntry, StoredSession

FORMAT = "session-service-export"
VERSION = 1

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def line(document: dict[str, Any]) -> bytes:
    return (_encode(document) + "\n").encode()


def header(kind: str, counters: bool) -> bytes:
    return line(
        {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": utcnow().isoformat(),
            "store": kind,
            "counters": counters,
        }
    )


def end(sessions: int, limits: int, counters: int) -> bytes:
    return line({"type": "end", "sessions": sessions, "limits": limits, "counters": counters})


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).isoformat()


def session(row: StoredSession) -> bytes:
    return line(
        {
            "type": "session",
            "key": row.key,
            "data": row.data,
            "expiry_date": _iso(row.expiry_date),
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
            "user_id": row.user_id,
            "tenant_id": row.tenant_id,
            "ip": row.ip,
            "user_agent": row.user_agent,
            "last_seen": _iso(row.last_seen),
            "handle": row.handle,
        }
    )


class BadLine(SessionDataError):
    """A line of an export file that cannot be read (the message names its number only)."""


def parse(raw: bytes, number: int) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadLine(f"line {number:,} of the export is not JSON") from None
    if not isinstance(document, dict):
        raise BadLine(f"line {number:,} of the export is not a JSON object")
    return document


def check_header(document: dict[str, Any]) -> None:
    if document.get("format") != FORMAT:
        raise BadLine("the first line is not a session-service export header")
    if document.get("version") != VERSION:
        raise BadLine(
            f"the export is of format version {document.get('version')!r}; this version of "
            f"session-service reads version {VERSION}"
        )


def _text(document: dict[str, Any], name: str, number: int, *, optional: bool = True) -> Any:
    value = document.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise BadLine(f"line {number:,} of the export: {name} is not text")
    return value


def _time(document: dict[str, Any], name: str, number: int, *, optional: bool = False) -> Any:
    value = _text(document, name, number, optional=optional)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadLine(f"line {number:,} of the export: {name} is not an ISO time") from None
    if moment.tzinfo is None:
        raise BadLine(f"line {number:,} of the export: {name} has no time zone")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def stored_session(document: dict[str, Any], number: int) -> StoredSession:
    data = document.get("data")
    if not isinstance(data, dict):
        raise BadLine(f"line {number:,} of the export: data is not a JSON object")
    return StoredSession(
        key=_text(document, "key", number, optional=False),
        data=data,
        expiry_date=_time(document, "expiry_date", number),
        created_at=_time(document, "created_at", number),
        updated_at=_time(document, "updated_at", number),
        user_id=_text(document, "user_id", number),
        tenant_id=_text(document, "tenant_id", number),
        ip=_text(document, "ip", number),
        user_agent=_text(document, "user_agent", number),
        last_seen=_time(document, "last_seen", number, optional=True),
        handle=_text(document, "handle", number),
    )


class Reading:
    """The sessions, limits and counters of an export stream, in batches of each."""

    def __init__(self, stream: IO[bytes], batch_size: int) -> None:
        self._stream = stream
        self._batch = batch_size
        self.ended: dict[str, Any] | None = None

    async def batches(self) -> AsyncIterator[tuple[str, list[Any]]]:
        pending: dict[str, list[Any]] = {"session": [], "limit": [], "counter": []}
        number = 0
        for raw in self._stream:
            number += 1
            if not raw.strip():
                continue
            document = parse(raw, number)
            if number == 1:
                check_header(document)
                continue
            if self.ended is not None:
                raise BadLine(f"line {number:,} of the export comes after its last line")
            kind = document.get("type")
            if kind == "end":
                self.ended = document
                continue
            if kind not in pending:
                raise BadLine(f"line {number:,} of the export is of no known type")
            pending[kind].append(_entry(kind, document, number))
            if len(pending[kind]) >= self._batch:
                yield kind, pending[kind]
                pending[kind] = []
        if number == 0:
            raise BadLine("the export is empty (not even its header line)")
        for kind, rest in pending.items():
            if rest:
                yield kind, rest


def _entry(kind: str, document: dict[str, Any], number: int) -> Any:
    if kind == "session":
        return stored_session(document, number)
    try:
        if kind == "limit":
            return LimitEntry(
                document["key"],
                list(document["hits"]),
                int(document["expires_at"]),
                document.get("limit"),
                document.get("window_ms"),
            )
        return CounterEntry(document["key"], document["value"], document.get("expires_at"))
    except (KeyError, TypeError, ValueError):
        raise BadLine(f"line {number:,} of the export: a bad {kind} entry") from None


@contextlib.contextmanager
def opened(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise SessionConfigError(f"cannot read {path}: {exc.strerror}") from None
    with stream:
        yield stream
