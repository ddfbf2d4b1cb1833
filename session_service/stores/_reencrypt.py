"""``session-service reencrypt``: every stored session moved to the first key of
``SESSION_ENCRYPTION_KEYS``, so an older key can then be removed (docs/security.md, "Rotating
the encryption key").

It pages through the store with the store's own export (``batch_size`` sessions at a time,
never every session in one list) and rewrites each session on its own with the store's
``patch`` as a compare-and-set (:attr:`~._delta.Delta.expected`): only its values not yet
under the first key, and only while the store still holds the ciphertext it read. A value the
app wrote meanwhile is sealed under the first key already and is never overwritten with the
older one; the session is read again and what is still stale is rewritten. So the command can
run while the app serves, be stopped and run again: a session already under the first key is
skipped, and a run that finds nothing to do changes nothing. Values the store holds in plain
JSON (written before encryption was turned on) are sealed the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import SessionConfigError
from ..records import SessionRecord, utcnow
from ._delta import expecting, prepare_delta
from ._rules import check_batch_size
from ._transfer import TransferRules
from .base import SessionStoreBase
from .protocol import DEFAULT_BATCH_SIZE, ProgressCallback

if TYPE_CHECKING:  # the cipher needs the `encryption` extra; the CLI imports this without it
    from ._cipher import DataCipher

#: Reads of one session that a write of the app's may beat before the run leaves it (it is
#: then counted as ``busy`` and left for the next run).
_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ReencryptResult:
    """What a run did: sessions rewritten, already under the first key (``current``), holding
    nothing to encrypt (``empty``: only ``user_id`` and their lifetime, which stay plain, so
    never under any key), gone meanwhile, unreadable (under a key no longer configured, or
    failing their tag: left as they are; they read as missing and expire on their own), busy
    (written by the app more often than the run could read it: left for the next run), and
    the pages it read."""

    rewritten: int = 0
    current: int = 0
    empty: int = 0
    gone: int = 0
    unreadable: int = 0
    busy: int = 0
    pages: int = 0


async def reencrypt_store(
    store: object,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
    before_rewrite: Callable[[str], Awaitable[None]] | None = None,
) -> ReencryptResult:
    """Rewrite every live session of ``store`` under its cipher's first key, reading
    ``batch_size`` sessions at a time, with ``on_progress(sessions seen so far)`` after each
    page. ``before_rewrite(stored key)`` runs between a session's read and its rewrite (the
    tests write there, as a request racing the run would)."""
    if not isinstance(store, SessionStoreBase) or not isinstance(store, TransferRules):
        raise SessionConfigError(
            f"reencrypt rewrites the stores built on SessionStoreBase; {type(store).__name__} "
            "is not one"
        )
    if store.cipher is None:  # the usual case: the operator has not set the keys
        raise SessionConfigError(
            "reencrypt needs SESSION_ENCRYPTION_KEYS (the new key first, the old ones after it)"
        )
    check_batch_size(batch_size)
    cipher = store.cipher
    counts = dict.fromkeys(("rewritten", "current", "empty", "gone", "unreadable", "busy"), 0)
    pages = seen = 0
    async for page in store.export_sessions(batch_size=batch_size):
        pages += 1
        for row in page:
            data: dict[str, Any] | None = row.data
            for _ in range(_ATTEMPTS):
                outcome = await _rewrite(store, cipher, row.key, data, before_rewrite)
                if outcome != "changed":
                    break
                again = await store._load(row.key)  # the stored record, sealed
                data = None if again is None or again.expiry_date <= utcnow() else again.data
            else:
                outcome = "busy"
            counts[outcome] += 1
        seen += len(page)
        if on_progress is not None:
            on_progress(seen)
    return ReencryptResult(**counts, pages=pages)


async def _rewrite(
    store: SessionStoreBase,
    cipher: DataCipher,
    key: str,
    data: dict[str, Any] | None,
    before_rewrite: Callable[[str], Awaitable[None]] | None,
) -> str:
    """One session (filed under ``key``, holding ``data`` as stored; ``None``: gone) moved
    to the first key: which of :class:`ReencryptResult`'s counts it adds to, or
    ``"changed"`` when the store no longer held what was read."""
    if data is None:
        return "gone"
    if not cipher.seals_anything(data):
        return "empty"
    stale = cipher.stale_keys(data)
    if not stale:
        return "current"
    opened = SessionRecord(key, dict(data), utcnow())
    if not cipher.open(opened, key):
        return "unreadable"
    if before_rewrite is not None:
        await before_rewrite(key)
    changed = cipher.seal(key, {name: opened.data[name] for name in stale})
    delta = expecting(prepare_delta(changed, ()), {name: data[name] for name in stale})
    # Addressed by the stored key, which the primitive takes as it is (the public ``patch``
    # would hash it again). ``False``: gone, or a stale value was written meanwhile.
    if await store._patch(key, delta, None):
        return "rewritten"
    return "changed"
