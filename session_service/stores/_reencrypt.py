"""``session-service reencrypt``: every stored session moved to the first key of
``SESSION_ENCRYPTION_KEYS``, so an older key can then be removed (docs/security.md, "Rotating
the encryption key").

Each session is rewritten on its own with the store's ``patch`` (one atomic step per
session, only its values not yet under the first key, every other key and the expiry kept),
so the command can be stopped and run again: a session already under the first key is
skipped, and a run that finds nothing to do changes nothing. Values the store holds in plain
JSON (written before encryption was turned on) are sealed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SessionConfigError, SessionDataError
from ..records import SessionRecord, utcnow
from ._delta import prepare_delta
from .base import SessionStoreBase
from .protocol import DEFAULT_BATCH_SIZE, ProgressCallback


@dataclass(frozen=True, slots=True)
class ReencryptResult:
    """What a run did: sessions rewritten, already under the first key (``current``), gone
    meanwhile, and unreadable (under a key no longer configured, or failing their tag: left
    as they are; they read as missing and expire on their own)."""

    rewritten: int = 0
    current: int = 0
    gone: int = 0
    unreadable: int = 0


async def reencrypt_store(
    store: object,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> ReencryptResult:
    """Rewrite every live session of ``store`` under its cipher's first key, ``batch_size``
    sessions between two ``on_progress(sessions seen so far)`` calls."""
    if not isinstance(store, SessionStoreBase) or store.cipher is None:
        raise SessionConfigError(
            "reencrypt needs SESSION_ENCRYPTION_KEYS (the new key first, the old ones after "
            "it) and a store built on SessionStoreBase"
        )
    if batch_size < 1:
        raise SessionDataError("batch_size must be at least 1")
    cipher = store.cipher
    rewritten = current = gone = unreadable = 0
    stored = await store._dump(None)  # as stored: sealed, under whichever key
    for start in range(0, len(stored), batch_size):
        for record in stored[start : start + batch_size]:
            stale = cipher.stale_keys(record.data)
            if not stale:
                current += 1
                continue
            if record.expiry_date <= utcnow():
                continue
            opened = SessionRecord(record.id, dict(record.data), record.expiry_date)
            if not cipher.open(opened, record.id):  # a listing's id: the stored key
                unreadable += 1
                continue
            # Addressed by the stored key, which the primitive takes as it is (the public
            # ``patch`` would hash it again).
            changed = cipher.seal(record.id, {key: opened.data[key] for key in stale})
            if await store._patch(record.id, prepare_delta(changed, ()), None):
                rewritten += 1
            else:
                gone += 1
        if on_progress is not None:
            on_progress(min(start + batch_size, len(stored)))
    return ReencryptResult(rewritten, current, gone, unreadable)
