"""What every store can hold: the longest text of each stored field and the checks on text.

Every layer applies these before anything is written: the stores (for a session's id, user,
tenant and device fields), the middleware (a tenant from the resolver), the rate limits (a
key). PostgreSQL text cannot hold NUL and an unpaired surrogate is not UTF-8; refusing such
text here makes every store refuse it alike (on write) or miss it (on read), instead of one
database failing as if it were down. The SQL schema's column widths are these numbers.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime

from .errors import SessionDataError

#: A session id: long enough for any id this library makes (43 characters) and older ones.
ID_LENGTH = 128
#: A user or tenant id: opaque text chosen by the app.
PRINCIPAL_LENGTH = 255
#: A client ip as stored: an IPv6 address with its /48 suffix fits with room to spare.
IP_LENGTH = 64
#: A ``User-Agent`` as stored (cut to this); real ones are under 300 characters.
USER_AGENT_LENGTH = 512
#: A session's handle (``new_handle`` makes 16 characters).
HANDLE_LENGTH = 32
#: A rate-limit or counter key.
LIMIT_KEY_LENGTH = 512

#: The one wording of a naive datetime given to a store.
NAIVE_DATETIME = "naive datetimes are ambiguous; pass a timezone-aware datetime (UTC)"


def storable(value: str) -> bool:
    """Whether every store can hold ``value``: no NUL, no unpaired surrogate."""
    if value.isascii():  # the usual case, and no bytes to make for it
        return "\x00" not in value
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_text(what: str, value: str | None, limit: int) -> None:
    """Refuse ``value`` (``None`` passes) when it is longer than ``limit`` or not storable."""
    if value is None:
        return
    if len(value) > limit:
        raise SessionDataError(f"{what} is {len(value)} characters long, over the limit of {limit}")
    if not storable(value):
        raise SessionDataError(f"{what} cannot contain NUL characters or unpaired surrogates")


def check_aware(value: datetime) -> datetime:
    """``value``, refused when naive: a store cannot tell which time a naive datetime means."""
    if value.tzinfo is None:
        raise SessionDataError(NAIVE_DATETIME)
    return value


#: What :func:`at_rest_id` makes: 64 lowercase hex digits (every id this library ever made is
#: 43 characters long, so a stored key of this shape is a hash, never an old id).
AT_REST_ID_LENGTH = 64
_HEX = frozenset("0123456789abcdef")


def is_at_rest_id(key: str) -> bool:
    """Whether a stored key already has :func:`at_rest_id`'s shape: how the upgrades (the
    ``0005`` revision, Redis's ``migrate``) tell a hashed key from an old id, so running
    them again, or after an interruption, never hashes a hash."""
    return len(key) == AT_REST_ID_LENGTH and _HEX.issuperset(key)


def at_rest_id(session_id: str) -> str:
    """The key a store files a session under: a SHA-256 hash of its id, never the id itself.

    Session ids carry 128+ random bits, so an unkeyed hash is enough: a copy of the database,
    even with the cookie signing key, yields no id a browser could send (and a rotation of the
    signing key leaves every stored key valid). Every layer that needs a session's stored key
    (the stores' contract, encryption's binding, the cache's invalidations, export) calls this.
    Any text hashes, an unpaired surrogate included (a hostile cookie reaching a cache lookup
    before a store refuses it), and the hash of every storable id is its UTF-8's.
    """
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


_remembered_at_rest_id = functools.lru_cache(maxsize=4096)(at_rest_id)


def hot_at_rest_id(session_id: str) -> str:
    """:func:`at_rest_id` for the per-request paths: a browser sends the same id on every
    request, so its hash is remembered instead of recomputed (SHA-256 through OpenSSL was
    3.5-4.5 us of a SQLite read request's CPU; benchmarks/ANALYSIS.md). A hash is
    deterministic, so a remembered answer is the answer. The memory is bounded: the 4,096
    most recently used ids, none longer than :data:`ID_LENGTH` (a longer one is hashed each
    time), so ids a client makes up cannot grow it."""
    if len(session_id) <= ID_LENGTH:
        return _remembered_at_rest_id(session_id)
    return at_rest_id(session_id)
