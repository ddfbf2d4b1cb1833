"""Slot tags: how a signed-in session's id names the hash slot its value lives in, so a load
is one ``GET`` (docs/stores.md, "Redis Cluster").

A slot tag is 3 URL-safe characters ``t`` whose key ``P{@t}s:<hashed id>`` lands in a given
slot of the cluster's 16,384. The cluster store appends ``~t`` to the id of a session it
binds to a user (create with a user, rotate into one), ``t`` naming the slot of the user's
keys, and files the session's value under ``P{@t}s:<hashed id>`` beside the user's indexes,
so every per-user script stays in one slot. A load parses the tag and reads that key.

The tag names a slot, never the user: the cookie is signed, not encrypted, and a slot is
shared by thousands of users (14 bits, the same for all of them), so it neither identifies
nor links anyone. The id keeps all the randomness it had; what is at rest is still the hash
of the whole id (tag included), so a client editing the tag addresses another hash: a miss.

Which tag a slot gets is fixed here (:func:`slot_tag`) but is no stored contract: the tag a
session was written under is kept in its id key's pointer and its user's index member, so a
different choice would cost a tagged read its shortcut (one ``GET`` more), never a session.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from functools import cache

from ...storable import ID_LENGTH

#: The characters of a tag (the id's own alphabet: cookie-safe, no brace, ``:`` or ``%``).
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CHARS = frozenset(_ALPHABET.decode())
SLOT_TAG_LENGTH = 3
#: What separates an id from its tag (not in the id's alphabet).
SEPARATOR = "~"
_SLOTS = 16384


def _crc(data: bytes) -> int:
    """Redis Cluster's CRC16 (XMODEM), as ``CLUSTER KEYSLOT`` computes it."""
    return binascii.crc_hqx(data, 0)


# CRC16 with a zero start is linear over equal-length messages, so the CRC of "@abc" is the
# XOR of those of "@\0\0\0", "\0a\0\0", "\0\0b\0" and "\0\0\0c": a slot's tag is found by
# walking (a, b) and looking the missing third character up, about 256 steps, not 16,384.
_BASE = _crc(b"@\0\0\0")
_FIRST = [_crc(bytes((0, c, 0, 0))) for c in _ALPHABET]
_SECOND = [_crc(bytes((0, 0, c, 0))) for c in _ALPHABET]
_THIRD: dict[int, int] = {}
for _i, _c in enumerate(_ALPHABET):
    _THIRD.setdefault(_crc(bytes((0, 0, 0, _c))) % _SLOTS, _i)


def _tags(slot: int) -> Iterator[bytes]:
    """The tags landing in ``slot``, in the alphabet's order of (a, b, c)."""
    for i, first in enumerate(_FIRST):
        for j, second in enumerate(_SECOND):
            k = _THIRD.get((_BASE ^ first ^ second ^ slot) % _SLOTS)  # XOR keeps the low bits
            if k is not None:
                yield bytes((_ALPHABET[i], _ALPHABET[j], _ALPHABET[k]))


@cache
def slot_tag(slot: int) -> str:
    """The tag of ``slot``: the first (a, b, c) in the alphabet's order landing there (every
    slot has one, tests/stores/test_cluster_slot_tags.py checks all 16,384)."""
    tag = next(_tags(slot))
    assert _crc(b"@" + tag) % _SLOTS == slot
    return tag.decode()


def user_slot(escaped_utag: str) -> int:
    """The slot of a user's keys (``P{<escaped user tag>}…``)."""
    return _crc(escaped_utag.encode()) % _SLOTS


def tag_of(session_id: str) -> str | None:
    """The slot tag an id carries, or ``None`` (an anonymous session's, one made before slot
    tags, or anything else: such an id is looked up as before)."""
    if session_id[-4:-3] != SEPARATOR:
        return None
    tag = session_id[-3:]
    return tag if _CHARS.issuperset(tag) else None


def tagged(session_id: str, slot: int) -> str:
    """``session_id`` carrying ``slot``'s tag (any tag it had replaced); unchanged when the
    tagged id would be longer than an id may be (it is then looked up as before)."""
    if tag_of(session_id) is not None:
        session_id = session_id[:-4]
    out = f"{session_id}{SEPARATOR}{slot_tag(slot)}"
    return out if len(out) <= ID_LENGTH else session_id


# -- where a session lives: the id key's pointer body ("loc") ---------------------------------
# '' the id key itself (anonymous); '=<user>' the user's slot under the user's hash tag (how
# sessions were filed before slot tags); '@<tag>=<user>' the user's slot under a slot tag.


def owner(loc: str) -> str:
    """The user tag of a location ('' anonymous)."""
    return loc[1 + SLOT_TAG_LENGTH :] if loc[:1] == "@" else loc


def split_member(member: str) -> tuple[str, str, str]:
    """(tenant tag, id, slot tag or '') of a user index member (:mod:`.prelude`)."""
    head, _, sid = member.partition(":")
    if head[:1] == "@":
        return head[1 + SLOT_TAG_LENGTH :], sid, head[1 : 1 + SLOT_TAG_LENGTH]
    return head, sid, ""
