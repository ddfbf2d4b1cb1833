"""The session cookie: signing, verifying and the ``Set-Cookie`` header, precomputed once.

The cookie holds only the session id, signed (HMAC-SHA256 via itsdangerous) so a client cannot
forge or guess one; the data never leaves the server. Only the current key signs; fallback keys
(``SESSION_SECRET_KEY_FALLBACKS``) still verify, so keys rotate without logging anyone out.
"""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, Signer
from itsdangerous.encoding import want_bytes
from itsdangerous.signer import HMACAlgorithm

from ..settings import SessionSettings

#: A signed id is ~87 characters; anything far longer is junk and is not even verified.
MAX_COOKIE_LENGTH = 256
#: Verified ids tried per request (each costs a lookup). Same-name cookies for a few paths or
#: domains fit; a client replaying hundreds of its old signed cookies at once gets no more.
MAX_COOKIE_IDS = 4
_SALT = b"session_service.cookie"


class _KeyedHMAC(HMACAlgorithm):
    """itsdangerous's HMAC algorithm, keeping one keyed HMAC per key and copying it per
    message instead of re-keying (the cookie is verified on every request)."""

    def __init__(self) -> None:
        super().__init__(hashlib.sha256)
        self._keyed: dict[bytes, hmac.HMAC] = {}

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        keyed = self._keyed.get(key)
        if keyed is None:
            keyed = self._keyed[key] = hmac.new(key, digestmod=self.digest_method)
        mac = keyed.copy()
        mac.update(value)
        return mac.digest()


class _KeyCachingSigner(Signer):
    """itsdangerous's ``Signer``, deriving each key once instead of on every sign and verify.

    The derived key is a pure function of (salt, secret key), so caching it changes nothing
    but the cost: two SHA-256 computations less per request.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._derived: dict[bytes, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        derived = self._derived.get(key)
        if derived is None:
            derived = self._derived[key] = super().derive_key(key)
        return derived

    def __repr__(self) -> str:
        return "_KeyCachingSigner(<keys hidden>)"


class CookieCodec:
    """Everything about the cookie that does not depend on the request."""

    __slots__ = ("_clear_header", "_name", "_set_suffix", "_signer", "_tail", "max_age")

    def __init__(self, settings: SessionSettings) -> None:
        # itsdangerous signs with the last key and verifies with every key in the list.
        keys = [*settings.secret_key_fallbacks, settings.secret_key]
        self._signer = _KeyCachingSigner(
            keys, salt=_SALT, digest_method=hashlib.sha256, algorithm=_KeyedHMAC()
        )
        self._name = settings.cookie_name.encode("latin-1")
        #: ``None`` for a browser-session cookie (``SESSION_COOKIE_PERSISTENT=false``).
        self.max_age = settings.ttl_seconds if settings.cookie_persistent else None
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
        found: list[str] = []
        sent = False
        for key, value in headers:
            if key != b"cookie" or name not in value:
                continue
            for part in value.split(b";"):
                k, sep, v = part.partition(b"=")
                if not sep or k.strip() != name:
                    continue
                sent = True
                v = v.strip().strip(b'"')
                if not v or len(v) > MAX_COOKIE_LENGTH:
                    continue
                try:
                    found.append(self._signer.unsign(v).decode("ascii"))
                except (BadSignature, UnicodeDecodeError):
                    continue
                if len(found) == MAX_COOKIE_IDS:
                    return found, sent
        return found, sent

    def set_header(self, session_id: str, max_age: int | None = None) -> bytes:
        """The ``Set-Cookie`` value carrying the signed id.

        ``max_age`` overrides the TTL (a fixed, non-rolling expiry sends what is left of it);
        a browser-session cookie never carries one.
        """
        value = self._name + b"=" + self._signer.sign(session_id)
        if max_age is None or self.max_age is None:
            return value + self._set_suffix
        return value + b"; Max-Age=" + str(max(max_age, 1)).encode() + self._tail

    def clear_header(self) -> bytes:
        """The ``Set-Cookie`` value that makes the browser drop the cookie."""
        return self._clear_header
