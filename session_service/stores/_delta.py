"""A request's changes to one session, checked and encoded once for every store's ``patch``.

``patch`` writes only the keys a request set or removed (two overlapping requests that change
different keys both keep their writes: README, "Concurrent requests of one session"), so each
store merges them into the stored data in one atomic statement or script.
:func:`prepare_delta` does what every store needs first (the stores' base class calls it once,
before anything is written): each value goes through the same JSON checks as a whole-session
write (so a bad value fails naming its key, and nothing is written), keys come out as the
exact JSON text the encoder writes (the Redis script matches stored keys by it), and a change
of ``user_id`` is turned into the new value of the ``user_id`` column.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from json.encoder import encode_basestring
from typing import Any

from ..errors import SessionDataError
from ..records import user_id_of
from ..storable import PRINCIPAL_LENGTH, check_text, storable
from ._codec import encode_json


class Delta:
    """The keys to set (``changed``; as one JSON object in ``object_json``, ``growth`` bytes
    long, and each as ``(key JSON, value JSON)`` in ``entries``), the keys to remove (also as
    JSON text: ``removed_json``), and what the ``user_id`` column becomes (``owner_changes``:
    whether ``user_id`` is among the keys; then ``owner`` is its new column value).

    ``growth`` bounds how much the merge can add to the stored JSON: each new member costs
    its key, its value, a colon and at most one comma, and the object's braces pay for them.
    Made once per save, so a plain slotted class (the cheapest to build).

    ``expected`` (empty for a request's patch) makes the patch a compare-and-set: each
    ``(key JSON, value JSON)`` must be what the store holds under that key, byte for byte,
    or nothing is written and the patch reports the session gone (``session-service
    reencrypt`` rewrites a value only while it is still the ciphertext it read)."""

    __slots__ = (
        "changed",
        "entries",
        "expected",
        "growth",
        "object_json",
        "owner",
        "owner_changes",
        "removed",
        "removed_json",
    )

    def __init__(
        self,
        changed: Mapping[str, Any],
        object_json: str,
        entries: tuple[tuple[str, str], ...],
        removed: tuple[str, ...],
        owner_changes: bool,
        owner: str | None,
    ) -> None:
        self.changed = changed
        self.object_json = object_json
        self.growth = len(object_json.encode())
        self.entries = entries
        self.removed = removed
        self.removed_json = tuple(map(key_json, removed))
        self.owner_changes = owner_changes
        self.owner = owner
        self.expected: tuple[tuple[str, str], ...] = ()

    def holds(self, data: dict[str, Any]) -> bool:
        """Whether stored ``data`` (decoded) holds every ``expected`` value."""
        return all(
            (name := json.loads(kj)) in data and _encode_value(data[name]) == vj
            for kj, vj in self.expected
        )

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (changed in place) with the removals and the new values applied."""
        for key in self.removed:
            data.pop(key, None)
        data.update(self.changed)
        return data


def key_json(key: str) -> str:
    """``key`` as the JSON encoder writes it inside an object (same escapes, not ASCII-only):
    the Redis script finds stored keys by this text, so it must match :func:`encode_data`'s
    (``session_service/testing/patch.py`` checks it for hostile keys)."""
    return encode_basestring(key)


#: Values of a delta whose checks :func:`encode_data` has already passed, encoded alike.
_encode_value = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def prepare_delta(changed: Mapping[str, Any], removed: Collection[str]) -> Delta:
    """Check and encode a request's changes (raises :class:`SessionDataError`, as a whole write
    would for the same keys and values). A key both set and removed is set. ``changed`` is
    kept, not copied: the caller must not change it until the write is done."""
    # Every check of a whole write, naming the key; the result is the object PostgreSQL merges.
    text = encode_json(changed if type(changed) is dict else dict(changed))
    entries: tuple[tuple[str, str], ...] = ()
    if len(changed) == 1:  # the usual save: one key, its parts sliced out of the checked text
        ((key, _),) = changed.items()
        kj = key_json(key)
        entries = ((kj, text[len(kj) + 2 : -1]),)
    elif changed:
        entries = tuple((key_json(k), _encode_value(v)) for k, v in changed.items())
    gone: tuple[str, ...] = ()
    if removed:
        # A key that is not a storable string can never have been stored: nothing to remove.
        gone = tuple(k for k in removed if isinstance(k, str) and k not in changed and storable(k))
    owner: str | None = None
    owner_changes = "user_id" in changed or "user_id" in gone
    if "user_id" in changed:
        owner = user_id_of({"user_id": changed["user_id"]})
        check_text("session['user_id']", owner, PRINCIPAL_LENGTH)
    return Delta(changed, text, entries, gone, owner_changes, owner)


def too_large(size: int, max_bytes: int) -> SessionDataError:
    """The error for a merged session over ``SESSION_MAX_BYTES`` (worded as a whole write's)."""
    return SessionDataError(
        f"the session is {size:,} bytes as JSON, over the limit of {max_bytes:,} "
        "(SESSION_MAX_BYTES); keep large data elsewhere and store a reference"
    )


def expecting(delta: Delta, stored: Mapping[str, Any]) -> Delta:
    """``delta`` as a compare-and-set on ``stored``'s values (as read from the store: the
    encoder writes each one back to the exact text it was read from)."""
    delta.expected = tuple((key_json(k), _encode_value(v)) for k, v in stored.items())
    return delta
