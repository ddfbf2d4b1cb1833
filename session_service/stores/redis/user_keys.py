"""``SESSION_MAX_PER_USER`` on Redis in one call: the keys of a user's sessions, declared up
front.

A login that takes a user to the limit reads each of that user's live sessions in its script
(:mod:`.evict`), and a script must declare every key it touches (:mod:`.scripts`): the first
call finds the keys of the user's other sessions undeclared, asks for them and changes
nothing, and :func:`.pool.run_script` runs it again, two round trips where an unlimited login
takes one. :class:`UserKeys` remembers, per user and tenant, the session keys this store's
own logins of that user wrote and the ones a script asked for, so the next login of that user
declares them in its first call: one round trip whenever no session of that user was written
elsewhere (another process, another store) in between.

Nothing here decides anything: the script still checks every key it reads (``has``). A key
remembered for a session signed out meanwhile is declared for nothing; a key not remembered
costs the second call, as without this.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Users (per tenant) remembered; the one whose login was longest ago is forgotten first.
USERS_KEPT = 10_000


class UserKeys:
    """Per user index key (``P u:<tenant>:<user>``), the session keys to declare with it."""

    def __init__(self, session_prefix: str) -> None:
        self._prefix = session_prefix  # ``P s:``: which of the keys a script asked are sessions
        self._keys: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, index: str) -> list[str]:
        """The session keys remembered for ``index`` (empty when none); not to be changed."""
        return self._keys.get(index, _NONE)

    def learn(
        self, index: str, new: str, old: str, asked: Sequence[bytes | str], limit: int
    ) -> None:
        """After a login of ``index``'s user moved ``old`` to ``new`` (session keys): ``new``
        and the session keys the script ``asked`` for join the remembered ones, ``old`` (moved
        away) leaves; the newest ``2 * limit`` stay (a user keeps at most ``limit``, and the
        rest leaves room for the sessions signed out by use rather than by age)."""
        keys = self._keys.pop(index, None) or []
        if len(self._keys) >= USERS_KEPT:
            del self._keys[next(iter(self._keys))]
        for raw in asked:
            key = raw.decode() if isinstance(raw, bytes) else raw
            if key.startswith(self._prefix) and key not in keys:
                keys.append(key)
        keys = [k for k in keys if k != old and k != new]
        keys.append(new)
        self._keys[index] = keys[-2 * limit :]


_NONE: list[str] = []
