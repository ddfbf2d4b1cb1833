"""Session data encrypted at rest, one top-level value at a time (``SESSION_ENCRYPTION_KEYS``;
docs/security.md, "Encryption at rest").

The stores' base class calls :meth:`DataCipher.seal` on the data of every write (a whole
record, or a patch's changed keys) before it is encoded, and :meth:`DataCipher.open` on every
record it reads, so no store does anything of its own: a store keeps a sealed value as the
JSON string it is. Each value is sealed on its own, which keeps delta saves (README,
"Concurrent requests of one session") working: two requests that change different keys each
write only their own ciphertexts, and the store merges them as it merges plain values.

A sealed value is the text ``"\\ufdd0" KEYID ":" BASE64(nonce | ciphertext | tag)``: a Unicode
noncharacter (no app writes one) that marks it, the id of the key that sealed it, and
AES-256-GCM's output. Its associated data binds it to the session (its stored key,
:func:`~session_service.storable.at_rest_id`, so a rotation re-binds it: the base class seals
a rotated record under its new id), to its top-level key name and to the key id: a value
copied to another session or another key, or relabelled with another key id, fails its tag.
A value that fails, or whose key id is no longer configured, makes the whole session read as
missing (:meth:`open` returns ``False``), with one log line that names neither the session nor
a key. ``user_id`` (the by-user index mirrors it) and the library's reserved lifetime key stay
plain; tenant, expiry and device fields are not session data, so they are plain already.
A value the store holds in plain JSON (written before encryption was turned on) reads as it
is, and ``session-service reencrypt`` seals it (:func:`stale_keys`).
"""

from __future__ import annotations

import binascii
import logging
import os
from binascii import a2b_base64, b2a_base64
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import SessionDataError
from ..lifetime import LIFETIME_KEY
from ..records import SessionRecord
from ..settings.encryption import EncryptionKeys
from ._codec import _loads, _scan, encode_json, encode_value

_log = logging.getLogger(__name__)

#: Marks a sealed value (a noncharacter: valid Unicode that apps do not write).
MARK = "\ufdd0"
#: Top-level keys kept in plain text: what indexes and the stores' own rules read.
PLAIN_KEYS = frozenset({"user_id", LIFETIME_KEY})
_NONCE_BYTES = 12
_AAD_PREFIX = b"session-service/v1\x00"
#: How many opened values a cipher remembers, and the longest sealed text it remembers (a
#: longer one is opened every time): an entry holds the sealed text (two bytes a character:
#: the mark is not Latin-1) and its value: about 2 MB when full of small values, 13 MB of
#: 700-character ones (tracemalloc, benchmarks/ENCRYPTION.md), so about 20 MB at both limits;
#: a process holds the values it serves in plain text anyway.
_REMEMBERED = 4096
_REMEMBER_CHARS = 1024
#: What JSON decodes to that no request can change in place (a remembered one is shared).
_SCALARS = frozenset({str, int, float, bool, type(None)})


class DataCipher:
    """AES-256-GCM over session values with the configured keys (the first seals, all open).
    Its repr shows how many keys it holds, never one.

    On SQLite a request's whole session work is tens of microseconds, so the per-value work
    around AES-GCM is kept to what the format needs (benchmarks/ENCRYPTION.md, "Instruction
    counts" and "The cold path"): the associated data's session part is built once per call,
    a value's JSON skips ``json``'s per-call encoder (:func:`~._codec.encode_value`) and
    its decoder's Python layers (``json``'s scanner called itself), a value under the first key is
    recognised by its whole prefix, and one seal's nonces come from one ``os.urandom`` call
    (each value still its own 96 random bits, never a counter: processes share the keys).
    A read opens what it read before from memory (:attr:`_recent`; "Remembered opens"): a
    browser's session is read on every request, and most of its values are unchanged since
    the last one, so base64, AES-GCM and their copies ran again for the same answer."""

    __slots__ = (
        "_current", "_current_id", "_cut", "_keys", "_label", "_labels", "_older", "_prefix",
        "_recent",
    )  # fmt: skip

    def __init__(self, keys: EncryptionKeys) -> None:
        self._keys = {key_id: AESGCM(key) for key_id, key in zip(keys.ids, keys.keys, strict=True)}
        #: Each key id as the associated data ends it: ``KEYID "\0"``, before the value's key.
        self._labels = {key_id: key_id.encode() + b"\x00" for key_id in keys.ids}
        self._current_id = keys.current
        self._current = self._keys[keys.current]
        self._prefix = MARK + keys.current + ":"
        self._cut = len(self._prefix)
        self._label = self._labels[keys.current]
        #: Values that opened (benchmarks/ENCRYPTION.md, "Remembered opens"), by their whole
        #: sealed text: ``(stored key, key name, value)``, a list or an object kept as
        #: :meth:`open` says. AES-GCM's check is deterministic, so a text that opened
        #: under this session, key name and key opens to the same again; the text names the
        #: key id and holds the nonce and tag, and an entry answers only for the stored key
        #: and key name it opened under (moved, relabelled or changed, a value is opened and
        #: checked afresh). Only what opened is remembered, and the keys a cipher holds never
        #: change, so a removed key is a new cipher with nothing remembered. Two generations
        #: of half :data:`_REMEMBERED` each, the older dropped whole when the recent one is
        #: full (a value read from the older one moves to the recent one): a miss costs two
        #: dict lookups, where ``lru_cache``'s bookkeeping cost a third of a cold open.
        self._recent: dict[str, tuple[str, str, Any]] = {}
        self._older: dict[str, tuple[str, str, Any]] = {}

    def __repr__(self) -> str:
        return f"DataCipher({len(self._keys)} keys)"

    @property
    def current(self) -> str:
        """The id of the key that seals."""
        return self._current_id

    def seal(self, stored_key: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` with every value but :data:`PLAIN_KEYS`' sealed for the session filed under
        ``stored_key`` (:func:`~session_service.storable.at_rest_id` of its id), under the
        first key. A value that cannot be stored fails as an unsealed write would (the same
        :class:`SessionDataError`, naming its key) and nothing is written. A scalar sealed is
        remembered as opened (its next read, usually the next request's, opens nothing)."""
        bound = _AAD_PREFIX + stored_key.encode() + b"\x00" + self._labels[self._current_id]
        sealed: dict[str, Any] = {}
        encrypt, prefix = self._current.encrypt, self._prefix
        # Every value's own 96 random bits, drawn in one call (a slice each, never shared).
        nonces, at = os.urandom(_NONCE_BYTES * len(data)), 0
        for key, value in data.items():
            if key in PLAIN_KEYS:
                sealed[key] = value
                continue
            try:
                text = encode_value(value)
                if "\\u0000" in text:
                    encode_json({key: value})  # a real NUL escape raises, naming the key
                nonce = nonces[at : at + _NONCE_BYTES]
                at += _NONCE_BYTES
                box = encrypt(nonce, text.encode(), bound + key.encode())
            except (TypeError, ValueError, RecursionError, AttributeError):
                raise _refusal(data) from None
            sealed[key] = out = prefix + b2a_base64(nonce + box, newline=False).decode()
            if type(value) in _SCALARS and len(out) <= _REMEMBER_CHARS:
                self._recent[out] = (stored_key, key, value)
        if len(self._recent) >= _REMEMBERED // 2:
            self._roll()
        return sealed

    def open(self, record: SessionRecord, stored_key: str) -> bool:
        """Unseal ``record.data`` in place, for the session filed under ``stored_key``;
        ``False`` when a value does not verify or names a key id that is not configured: the
        caller reads the session as missing (``record.data`` then stays as it was).

        A value not remembered is opened inline (no call per value but the primitives': on a
        process serving more sessions than it remembers, every read opens every value, and a
        Python call was a tenth of one; benchmarks/ENCRYPTION.md, "The cold path")."""
        opened: dict[str, Any] | None = None
        recent = self._recent
        bound = b""  # the associated data but the key name, built for the first value opened
        for key, value in record.data.items():
            if type(value) is not str or value[:1] != MARK:
                continue
            hit = recent.get(value)
            if hit is None and (hit := self._older.get(value)) is not None:
                recent[value] = hit  # read again: kept when the older generation goes
            if hit is not None and hit[1] == key and hit[0] == stored_key:
                plain = hit[2]
                if type(plain) is tuple:  # a list or an object: the caller's own, every time
                    plain = plain[0].copy() if len(plain) == 1 else _loads(plain[1])
            else:
                if value.startswith(self._prefix):  # the first key's: the usual case
                    if not bound:
                        bound = _AAD_PREFIX + stored_key.encode() + b"\x00" + self._label
                    aead, aad, body = self._current, bound + key.encode(), value[self._cut :]
                else:
                    key_id, _, body = value[1:].partition(":")
                    if (found := self._keys.get(key_id)) is None:
                        _log.warning(
                            "a stored session holds data sealed under a key id "
                            "SESSION_ENCRYPTION_KEYS no longer lists; reading it as missing"
                        )
                        return False
                    aad = _AAD_PREFIX + stored_key.encode() + b"\x00" + self._labels[key_id]
                    aead, aad = found, aad + key.encode()
                try:
                    raw = a2b_base64(body)  # a changed character fails the tag below
                    text = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad).decode()
                    try:  # ``json``'s scanner itself (no ``raw_decode`` frame), inline
                        plain, end = _scan(text, 0)
                    except StopIteration:
                        end = -1
                    if end != len(text):
                        plain = _loads(text)  # what it cannot take whole raises as it does
                except (InvalidTag, binascii.Error, ValueError):
                    _log.warning(
                        "a stored session holds data that fails its integrity check (changed, "
                        "copied from another session or key, or corrupt); reading it as missing"
                    )
                    return False
                if len(value) <= _REMEMBER_CHARS:
                    # A list or an object in a tuple, so that a read hands out its own (JSON
                    # decodes to no tuple): ``(plain,)`` when it holds no list or object (a
                    # shallow copy is a whole one), else ``(None, text)`` (decoded again); a
                    # bracket past the first character, even in a string, counts as nesting.
                    if type(plain) is list:
                        if "{" not in text and text.find("[", 1) < 0:
                            recent[value] = (stored_key, key, (plain,))
                            plain = plain.copy()
                        else:
                            recent[value] = (stored_key, key, (None, text))
                    elif type(plain) is dict:
                        if "[" not in text and text.find("{", 1) < 0:
                            recent[value] = (stored_key, key, (plain,))
                            plain = plain.copy()
                        else:
                            recent[value] = (stored_key, key, (None, text))
                    else:
                        recent[value] = (stored_key, key, plain)
            if opened is None:
                opened = dict(record.data)
            opened[key] = plain
        if len(recent) >= _REMEMBERED // 2:
            self._roll()
        if opened is not None:
            record.data = opened
        return True

    def _roll(self) -> None:
        """The recent generation, full, becomes the older (the older before it dropped)."""
        self._older, self._recent = self._recent, {}

    def seals_anything(self, data: Mapping[str, Any]) -> bool:
        """Whether ``data`` holds a value it seals: a session holding only :data:`PLAIN_KEYS`
        (a signed-in session with nothing else) has nothing to encrypt under any key."""
        return any(k not in PLAIN_KEYS for k in data)

    def stale_keys(self, data: Mapping[str, Any]) -> list[str]:
        """The keys of stored ``data`` not sealed under the first key (plain ones included):
        what ``session-service reencrypt`` rewrites."""
        prefix = self._prefix
        return [
            k
            for k, v in data.items()
            if k not in PLAIN_KEYS and not (type(v) is str and v.startswith(prefix))
        ]


def _refusal(data: Mapping[str, Any]) -> SessionDataError:
    """The error an unsealed write of ``data`` raises (it names the bad key)."""
    try:
        encode_json(dict(data))
    except SessionDataError as exc:
        return exc
    return SessionDataError("the session cannot be stored as JSON")


def cipher_of(keys: EncryptionKeys | None) -> DataCipher | None:
    """The cipher for ``SESSION_ENCRYPTION_KEYS`` (``None``: encryption is off)."""
    return None if keys is None else DataCipher(keys)
