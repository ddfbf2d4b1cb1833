"""How the library words things for people, written once for the CLI, the stores' one-line
errors and the log lines (issue 24).

* A count agrees with its noun and has thousands separators: ``1 session``, ``1,001
  sessions``, ``2 entries``.
* An exception is shown by its own first line, never by its class name: an operator reads
  ``file is not a database``; ``DatabaseError`` is for the traceback (``--debug``).
"""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    """``1 session``, ``1,001 sessions``, ``2 entries``: the count and its noun, agreed."""
    if count == 1:
        return f"1 {word}"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return f"{count:,} {word[:-1]}ies"
    return f"{count:,} {word}s"


def in_words(exc: BaseException, *, limit: int | None = None) -> str:
    """The first line of ``exc``'s message (cut to ``limit`` characters), or ``no details``
    when it has none: what a one-line error or a log line shows of an unforeseen failure."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else "no details"
    return line if limit is None else line[:limit]
