"""``SESSION_ENCRYPTION_KEYS``: the keys that encrypt session data at rest (docs/security.md,
"Encryption at rest").

The setting is a comma-separated list of ``KEYID:BASE64KEY``, each key 32 random bytes
(AES-256-GCM). The first key encrypts; every listed key decrypts, so a new key goes first and
an old one stays listed until ``session-service reencrypt`` has moved every session off it.
Only the parsing lives here (no cipher is built and the ``encryption`` extra is only
checked for): the stores build the cipher
(:mod:`session_service.stores._cipher`). Nothing here ever shows a key: not the repr, not an
error (an error names the entry by its position and its key id at most).
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from dataclasses import dataclass, field

from ..errors import SessionConfigError

#: Bytes of an AES-256 key.
KEY_BYTES = 32
#: What a key id may be: short, printable, and free of the token's separators.
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
#: The ``pip`` spelling of the extra that brings the cipher.
EXTRA = "session-service[encryption]"


@dataclass(frozen=True, slots=True)
class EncryptionKeys:
    """The configured keys, in order: ``ids[0]`` encrypts, every one decrypts. The repr shows
    how many there are, never a key (nor the key ids, which need not be public either)."""

    ids: tuple[str, ...]
    keys: tuple[bytes, ...] = field(repr=False)

    def __repr__(self) -> str:
        return f"EncryptionKeys({len(self.ids)} key{'s' if len(self.ids) != 1 else ''})"

    @property
    def current(self) -> str:
        """The id of the key that encrypts."""
        return self.ids[0]


def parse_encryption_keys(name: str, raw: str) -> EncryptionKeys | None:
    """``raw`` (the variable ``name``'s text) as keys, or ``None`` when unset or blank.

    Raises :class:`SessionConfigError` naming the entry (by position) and what is wrong,
    never its key material, and when the ``encryption`` extra is not installed."""
    entries = [entry.strip() for entry in raw.split(",")]
    if not any(entries):
        return None
    ids: list[str] = []
    keys: list[bytes] = []
    for position, entry in enumerate(entries, start=1):
        where = f"{name}: entry {position}"
        key_id, colon, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not colon or not _KEY_ID.fullmatch(key_id):
            raise SessionConfigError(
                f"{where} must be KEYID:BASE64KEY, the key id 1 to 32 letters, digits, "
                "'_', '-' or '.' (entries are separated by commas)"
            )
        if key_id in ids:
            raise SessionConfigError(f"{where}: the key id {key_id!r} is listed twice")
        try:
            key = b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SessionConfigError(
                f"{where} (key id {key_id!r}): the key is not valid base64"
            ) from None
        if len(key) != KEY_BYTES:
            raise SessionConfigError(
                f"{where} (key id {key_id!r}): the key must be {KEY_BYTES} bytes (AES-256), "
                f'not {len(key)}; make one with: python -c "import base64, os; '
                'print(base64.b64encode(os.urandom(32)).decode())"'
            )
        ids.append(key_id)
        keys.append(key)
    try:
        import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401
    except ImportError:
        raise SessionConfigError(
            f"{name} is set, but encryption needs the `encryption` extra: "
            f"pip install '{EXTRA}' (it brings `cryptography`)"
        ) from None
    return EncryptionKeys(tuple(ids), tuple(keys))
