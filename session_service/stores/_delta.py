"""A request's changes to one session, checked and encoded once for every store's ``patch``.

``patch`` writes only the keys a request set or removed (behaviour 12: two overlapping
requests that change different keys both keep their writes), so each store merges them into
the stored data in one atomic statement or script. :func:`prepare_delta` does what every store
needs first, before anything is written: each value goes through the same JSON checks as a
whole-session write (so a bad value fails naming its key, and nothing is written), keys come
out as the exact JSON text the encoder writes (the Redis script matches stored keys by it),
and a change of ``user_id`` is turned into the new value of the ``user_id`` column.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from ..errors import SessionDataError
from ..records import user_id_of
from ._codec import check_text, encode_data, storable
from .sql.schema import PRINCIPAL_LENGTH


@dataclass(frozen=True, slots=True)
class Delta:
    """The keys to set (``changed``, and each as ``(key JSON, value JSON)`` in ``entries``),
    the keys to remove (also as JSON text: ``removed_json``), and what the ``user_id`` column
    becomes (``owner_changes``: whether ``user_id`` is among the keys; then ``owner`` is its
    new column value)."""

    changed: dict[str, Any]
    entries: tuple[tuple[str, str], ...]
    removed: tuple[str, ...]
    removed_json: tuple[str, ...]
    owner_changes: bool
    owner: str | None

    @property
    def object_json(self) -> str:
        """The changed keys as one JSON object (PostgreSQL merges it with ``||``)."""
        return "{" + ",".join(f"{k}:{v}" for k, v in self.entries) + "}"

    @property
    def growth(self) -> int:
        """An upper bound on how many bytes the merge can add to the stored JSON text."""
        return sum(len(k.encode()) + len(v.encode()) + 2 for k, v in self.entries)

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (changed in place) with the removals and the new values applied."""
        for key in self.removed:
            data.pop(key, None)
        data.update(self.changed)
        return data


def key_json(key: str) -> str:
    """``key`` as the JSON encoder writes it inside an object (same escapes, no ASCII-only)."""
    return encode_basestring(key)


def prepare_delta(changed: Mapping[str, Any], removed: Collection[str]) -> Delta:
    """Check and encode a request's changes (raises :class:`SessionDataError`, as a whole write
    would for the same keys and values). A key both set and removed is set."""
    entries = []
    for key, value in changed.items():
        if not isinstance(key, str):
            raise SessionDataError(f"session keys must be strings, not {key!r}")
        text = encode_data({key: value})  # every check of a whole write, naming the key
        kj = key_json(key)
        entries.append((kj, text[len(kj) + 2 : -1]))
    # A key that is not a storable string can never have been stored: nothing to remove.
    gone = tuple(k for k in removed if isinstance(k, str) and k not in changed and storable(k))
    owner: str | None = None
    owner_changes = "user_id" in changed or "user_id" in gone
    if "user_id" in changed:
        owner = user_id_of({"user_id": changed["user_id"]})
        check_text("session['user_id']", owner, PRINCIPAL_LENGTH)
    removed_json = tuple(key_json(k) for k in gone)
    return Delta(dict(changed), tuple(entries), gone, removed_json, owner_changes, owner)


def too_large(size: int, max_bytes: int) -> SessionDataError:
    """The error for a merged session over ``SESSION_MAX_BYTES`` (worded as a whole write's)."""
    return SessionDataError(
        f"the session is {size} bytes as JSON, over the limit of {max_bytes} "
        "(SESSION_MAX_BYTES); keep large data elsewhere and store a reference"
    )
