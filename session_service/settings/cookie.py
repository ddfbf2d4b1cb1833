"""The cookie's settings: what a browser accepts as a cookie's name, ``Path`` and ``Domain``,
and the combinations it rejects (``SameSite=None`` or ``Partitioned`` without ``Secure``, a
``__Secure-``/``__Host-`` name without what its prefix promises). Refused at start-up: with
such settings no login would ever stick."""

from __future__ import annotations

from ..errors import SessionConfigError


def cookie_attribute_ok(value: str) -> bool:
    """Printable ASCII without the characters that end a cookie attribute."""
    return value.isascii() and value.isprintable() and not any(c in value for c in ";, ")


def check_samesite(raw: str) -> str:
    samesite = raw.strip().lower() or "strict"
    if samesite not in ("strict", "lax", "none"):
        raise SessionConfigError(
            f"SESSION_COOKIE_SAMESITE must be strict, lax or none, not {samesite!r}"
        )
    return samesite


def check_secure_for(samesite: str, secure: bool) -> None:
    if samesite == "none" and not secure:
        raise SessionConfigError(
            "SESSION_COOKIE_SAMESITE=none requires SESSION_COOKIE_SECURE=true "
            "(browsers drop SameSite=None cookies that are not Secure)"
        )


def check_partitioned(partitioned: bool, secure: bool) -> None:
    if partitioned and not secure:
        raise SessionConfigError(
            "SESSION_COOKIE_PARTITIONED=true requires SESSION_COOKIE_SECURE=true "
            "(browsers drop Partitioned cookies that are not Secure)"
        )


def check_cookie_name(raw: str) -> str:
    cookie_name = raw.strip() or "session_id"
    # Header values are ASCII: anything else breaks every response (or the start-up).
    name_chars = cookie_name.replace("_", "").replace("-", "").replace(".", "")
    if not (cookie_name.isascii() and name_chars.isalnum()):
        raise SessionConfigError(
            f"SESSION_COOKIE_NAME must be ASCII letters, digits, '_', '-' or '.', "
            f"not {cookie_name!r}"
        )
    return cookie_name


def check_cookie_path(raw: str) -> str:
    cookie_path = raw.strip() or "/"
    if not (cookie_path.startswith("/") and cookie_attribute_ok(cookie_path)):
        raise SessionConfigError(
            f"SESSION_COOKIE_PATH must start with '/' and hold only printable ASCII without "
            f"';', ',' or spaces, not {cookie_path!r}"
        )
    return cookie_path


def check_cookie_domain(raw: str) -> str | None:
    cookie_domain = raw.strip() or None
    if cookie_domain is not None and not (
        cookie_attribute_ok(cookie_domain) and "/" not in cookie_domain
    ):
        raise SessionConfigError(
            f"SESSION_COOKIE_DOMAIN must be an ASCII host name (punycode for international "
            f"names), not {cookie_domain!r}"
        )
    return cookie_domain


def check_cookie_prefix(name: str, secure: bool, domain: str | None, path: str) -> None:
    """Refuse a ``__Secure-``/``__Host-`` cookie name with settings browsers reject it under.

    Browsers drop (case-insensitively by prefix) a ``__Secure-`` cookie that is not Secure, and
    a ``__Host-`` cookie that is not Secure, has a Domain, or a Path other than ``/``: with
    such settings no login would ever stick, so it is refused at start-up instead.
    """
    prefix = name[: len("__secure-")].lower()
    if prefix.startswith("__host-"):
        start, rule = name[: len("__host-")], "it is Secure, has no Domain and has Path=/"
        needs = [
            ("SESSION_COOKIE_SECURE=true", not secure),
            ("no SESSION_COOKIE_DOMAIN", domain is not None),
            ("SESSION_COOKIE_PATH=/", path != "/"),
        ]
    elif prefix == "__secure-":
        start, rule = name[: len("__secure-")], "it is Secure"
        needs = [("SESSION_COOKIE_SECURE=true", not secure)]
    else:
        return
    wrong = [need for need, missing in needs if missing]
    if wrong:
        raise SessionConfigError(
            f"SESSION_COOKIE_NAME {name!r} starts with {start!r}: browsers drop such a cookie "
            f"unless {rule}, so it needs {' and '.join(wrong)} (or a name without the prefix)"
        )
