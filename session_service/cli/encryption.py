"""``session-service reencrypt``: every session moved to the first key of
``SESSION_ENCRYPTION_KEYS`` (docs/security.md, "Rotating the encryption key").

It reads the store page by page (``--batch-size``) and rewrites each session on its own, only
while it still holds what was read (a value the app writes meanwhile is never undone), so it
can run while the app serves, be interrupted and run again: what is already under the first
key is skipped. When it reports nothing left under an
older key, that key can be removed from ``SESSION_ENCRYPTION_KEYS``.
"""

from __future__ import annotations

import argparse

from ..backend import SessionStoreBackend
from ..stores._reencrypt import reencrypt_store
from . import output as out


async def reencrypt(b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress) -> out.Result:
    done = await reencrypt_store(b.store, batch_size=a.batch_size, on_progress=p)
    text = (
        f"re-encrypted {out.plural(done.rewritten, 'session')} under the first key of "
        "SESSION_ENCRYPTION_KEYS"
    )
    if done.current or not done.empty:
        were = "was" if done.current == 1 else "were"
        text += f"; {out.plural(done.current, 'session')} already {were}"
    if done.empty:
        # Never sealed under any key: counting them as "already" under the first misleads.
        hold = "holds" if done.empty == 1 else "hold"
        text += (
            f"; {out.plural(done.empty, 'session')} {hold} nothing to encrypt (user_id stays plain)"
        )
    if done.gone:
        text += f"; {out.plural(done.gone, 'session')} ended meanwhile"
    if done.busy:
        text += (
            f"; {out.plural(done.busy, 'session')} changed on every read (written by the app "
            "meanwhile) and were left for the next run"
        )
    if done.unreadable:
        text += (
            f"; {out.plural(done.unreadable, 'session')} could not be read (a key that is no "
            "longer listed, or data that fails its check) and were left as they are"
        )
    elif not done.busy:
        text += "; the older keys can now be removed"
    document = {
        "reencrypted": done.rewritten,
        "already_current": done.current,
        "gone": done.gone,
        "unreadable": done.unreadable,
        "busy": done.busy,
        "nothing_to_encrypt": done.empty,
    }
    return out.Result(text, document)
