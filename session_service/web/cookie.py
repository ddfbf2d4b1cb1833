"""The session cookie: signing, verifying and the ``Set-Cookie`` header, precomputed once.

The cookie holds only the session id, signed (HMAC-SHA256) so a client cannot forge or guess
one; the data never leaves the server. Only the current key signs; fallback keys
(``SESSION_SECRET_KEY_FALLBACKS``) still verify, so keys rotate without logging anyone out.

The format is exactly itsdangerous's ``Signer`` (salt ``session_service.cookie``, SHA-256):
``<id>.<base64url HMAC>``, so cookies issued by earlier versions stay valid. It is computed
here directly because the cookie is verified on every request, and the generic ``Signer``
(key derivation, ``want_bytes``, base64 decoding, one method call per step) cost more than the
HMAC itself. The one difference: a signature must be in canonical base64 (the form every
signer writes); itsdangerous also accepts the few other spellings that decode to the same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import urlsafe_b64encode

from ..settings import SessionSettings

#: A signed id is ~87 characters; anything far longer is junk and is not even verified.
MAX_COOKIE_LENGTH = 256
#: Verified ids tried per request (each costs a lookup). Same-name cookies for a few paths or
#: domains fit; a client replaying hundreds of its old signed cookies at once gets no more.
MAX_COOKIE_IDS = 4
_SALT = b"session_service.cookie"
#: Cookies remembered as verified (and ids as signed) per codec before the memory starts over.
#: An HMAC is deterministic, so a value verified once verifies the same way every time: the
#: browser that sends the same cookie on each request pays for one HMAC, not one per request
#: (the HMAC was a tenth of a read). Only values that verified are remembered, so junk cannot
#: fill it; when it is full it is emptied (4,096 entries are well under a megabyte).
REMEMBERED = 4096
#: ``Cookie`` header values up to this long are remembered whole (with the ids they carried),
#: so the header a browser repeats on every request is not even split: REMEMBERED of them stay
#: under a few megabytes.
REMEMBERED_HEADER_LENGTH = 1024


def _keyed_hmac(secret_key: str) -> hmac.HMAC:
    """An HMAC-SHA256 keyed as itsdangerous's ``Signer(secret_key, salt=_SALT,
    digest_method=sha256)`` keys it (its default "django-concat" key derivation).

    Built once per key and copied per message: re-keying an HMAC costs two SHA-256 blocks.
    """
    derived = hashlib.sha256(_SALT + b"signer" + secret_key.encode()).digest()
    return hmac.new(derived, digestmod=hashlib.sha256)


def _signature(keyed: hmac.HMAC, value: bytes) -> bytes:
    """itsdangerous's signature of ``value``: the HMAC, URL-safe base64 without padding."""
    mac = keyed.copy()
    mac.update(value)
    return urlsafe_b64encode(mac.digest()).rstrip(b"=")


class CookieCodec:
    """Everything about the cookie that does not depend on the request."""

    __slots__ = (
        "_clear_header",
        "_headers",
        "_keys",
        "_known",
        "_name",
        "_set_suffix",
        "_signed",
        "_signing",
        "_tail",
        "_ttl",
        "max_age",
    )

    def __init__(self, settings: SessionSettings) -> None:
        # The current key signs; it and then every fallback (in the order given) verify.
        self._signing = _keyed_hmac(settings.secret_key)
        fallbacks = [_keyed_hmac(key) for key in settings.secret_key_fallbacks]
        self._keys = (self._signing, *fallbacks)
        #: Signed values that verified -> their id; ids -> their value signed by the current key.
        self._known: dict[bytes, str] = {}
        self._signed: dict[str, bytes] = {}
        #: ``Cookie`` header values that carried a verified id -> the ids they carry.
        self._headers: dict[bytes, list[str]] = {}
        self._name = settings.cookie_name.encode("latin-1")
        #: ``None`` for a browser-session cookie (``SESSION_COOKIE_PERSISTENT=false``).
        self.max_age = settings.ttl_seconds if settings.cookie_persistent else None
        self._ttl = settings.ttl_seconds
        attrs = [f"Path={settings.cookie_path}"]
        if settings.cookie_domain:
            attrs.append(f"Domain={settings.cookie_domain}")
        attrs.append("HttpOnly")
        attrs.append(f"SameSite={settings.cookie_samesite.capitalize()}")
        if settings.cookie_secure:
            attrs.append("Secure")
        if settings.cookie_partitioned:
            attrs.append("Partitioned")
        tail = "; ".join(attrs)
        self._tail = f"; {tail}".encode("latin-1")
        max_age = "" if self.max_age is None else f"; Max-Age={self.max_age}"
        self._set_suffix = f"{max_age}; {tail}".encode("latin-1")
        self._clear_header = (
            self._name
            + b"=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
            + tail.encode("latin-1")
        )

    def __repr__(self) -> str:
        return f"CookieCodec(name={self._name.decode()!r})"

    def session_ids(self, headers: list[tuple[bytes, bytes]]) -> tuple[list[str], bool]:
        """Verified session ids from the request's cookies, and whether our cookie was sent.

        Several cookies of the same name can arrive (different paths or domains); the first
        :data:`MAX_COOKIE_IDS` that verify are tried. Tampered, malformed, oversized or
        foreign-key values are simply not ids.
        """
        name = self._name
        found: list[str] | None = None
        sent = False
        for key, value in headers:
            if key != b"cookie" or name not in value:
                continue
            # A header value is remembered only once it carried a verified id (so ``sent``):
            # what it carries cannot differ the next time (see ``_verified``).
            ids = self._headers.get(value)
            if ids is None:
                ids, sent_here = self._parse(value)
                if not sent_here:
                    continue
                if ids and len(value) <= REMEMBERED_HEADER_LENGTH:
                    if len(self._headers) >= REMEMBERED:
                        self._headers.clear()
                    self._headers[value] = ids
            sent = True
            found = ids if found is None else found + ids
            if len(found) >= MAX_COOKIE_IDS:
                return found[:MAX_COOKIE_IDS], True
        # A fresh list: the remembered ones are never handed out to be changed.
        return ([] if found is None else found[:]), sent

    def _parse(self, value: bytes) -> tuple[list[str], bool]:
        """The verified ids one ``Cookie`` header carries (at most :data:`MAX_COOKIE_IDS`),
        and whether it carries our cookie at all."""
        name = self._name
        found: list[str] = []
        sent = False
        for part in value.split(b";"):
            k, sep, v = part.partition(b"=")
            if not sep or k.strip() != name:
                continue
            sent = True
            v = v.strip().strip(b'"')
            if not v or len(v) > MAX_COOKIE_LENGTH:
                continue
            session_id = self._verified(v)
            if session_id is None:
                continue
            found.append(session_id)
            if len(found) == MAX_COOKIE_IDS:
                break
        return found, sent

    def _verified(self, signed: bytes) -> str | None:
        """The id ``signed`` carries if one of the keys signed it (compared in constant time)."""
        known = self._known.get(signed)
        if known is not None:
            return known
        raw, dot, sig = signed.rpartition(b".")
        if not dot:
            return None
        for keyed in self._keys:
            if hmac.compare_digest(_signature(keyed, raw), sig):
                try:
                    session_id = raw.decode("ascii")
                except UnicodeDecodeError:
                    return None
                self._remember(signed, session_id, current=keyed is self._signing)
                return session_id
        return None

    def _remember(self, signed: bytes, session_id: str, *, current: bool) -> None:
        """Remember that ``signed`` carries ``session_id`` (``current``: signed by the current
        key, so ``set_header`` may send it as it is)."""
        if len(self._known) >= REMEMBERED:
            self._known.clear()
        self._known[signed] = session_id
        if current:
            if len(self._signed) >= REMEMBERED:
                self._signed.clear()
            self._signed[session_id] = signed

    def _signed_value(self, session_id: str) -> bytes:
        """``<id>.<signature>`` under the current key."""
        signed = self._signed.get(session_id)
        if signed is None:
            raw = session_id.encode()
            signed = raw + b"." + _signature(self._signing, raw)
            self._remember(signed, session_id, current=True)
        return signed

    def set_header(
        self, session_id: str, max_age: int | None = None, persistent: bool | None = None
    ) -> bytes:
        """The ``Set-Cookie`` value carrying the signed id.

        ``max_age`` overrides the TTL (a fixed, non-rolling expiry, a session's own TTL or
        its absolute deadline sends what is left of it); a browser-session cookie never
        carries one. ``persistent`` (a session's own choice) overrides
        ``SESSION_COOKIE_PERSISTENT``: ``False`` a browser-session cookie, ``True`` one with a
        ``Max-Age``.
        """
        value = self._name + b"=" + self._signed_value(session_id)
        if persistent is None:
            if max_age is None or self.max_age is None:
                return value + self._set_suffix
        elif not persistent:
            return value + self._tail
        elif max_age is None:
            max_age = self._ttl
        return value + b"; Max-Age=" + str(max(max_age, 1)).encode() + self._tail

    def clear_header(self) -> bytes:
        """The ``Set-Cookie`` value that makes the browser drop the cookie."""
        return self._clear_header
