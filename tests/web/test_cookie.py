"""The cookie codec signs and verifies in exactly itsdangerous's ``Signer`` format.

The codec computes the HMAC itself (it runs on every request); these tests pin the format to
itsdangerous in both directions, so cookies issued by earlier versions, which used the
``Signer``, stay valid, and a cookie we issue still verifies under itsdangerous. No store is
involved: the codec is pure (the middleware tests cover it over every store kind).
"""

from __future__ import annotations

import hashlib
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import Signer

from session_service.records import new_session_id
from session_service.web.cookie import CookieCodec
from tests.support.webapp import settings_for

CURRENT = "current-key-0123456789abcdef0123456789"
OLD = "old-key-0123456789abcdef0123456789abcdef"
SALT = b"session_service.cookie"


def _codec(tmp_path: Path, *fallbacks: str) -> CookieCodec:
    extra = {"SESSION_SECRET_KEY": CURRENT}
    if fallbacks:
        extra["SESSION_SECRET_KEY_FALLBACKS"] = ",".join(fallbacks)
    return CookieCodec(settings_for(f"sqlite:///{tmp_path}/s.db", str(tmp_path), **extra))


def _signer(key: str) -> Signer:
    return Signer(key, salt=SALT, digest_method=hashlib.sha256)


def _value(codec: CookieCodec, session_id: str) -> bytes:
    return codec.set_header(session_id).split(b";")[0].partition(b"=")[2]


def _ids(codec: CookieCodec, value: bytes) -> list[str]:
    return codec.session_ids([(b"cookie", b"session_id=" + value)])[0]


@given(session_id=st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1))
def test_cookies_we_sign_are_itsdangerous_signatures(session_id: str) -> None:
    codec = _codec(Path("/nonexistent"))
    assert _value(codec, session_id) == _signer(CURRENT).sign(session_id)


def test_cookies_signed_by_itsdangerous_verify_under_the_current_and_fallback_keys(
    tmp_path: Path,
) -> None:
    codec = _codec(tmp_path, OLD)
    sid = new_session_id()
    assert _ids(codec, _signer(CURRENT).sign(sid)) == [sid]
    assert _ids(codec, _signer(OLD).sign(sid)) == [sid]
    assert _ids(_codec(tmp_path), _signer(OLD).sign(sid)) == []  # the fallback is gone
    assert _ids(codec, _signer("another-key-entirely-0123456789").sign(sid)) == []


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-1],  # truncated signature
        lambda v: v.replace(b".", b""),  # no separator
        lambda v: v + b"=",  # padded: not the canonical spelling
        lambda v: b"x" + v,  # another id under the same signature
        lambda v: v.partition(b".")[0] + b".",  # empty signature
    ],
)
def test_altered_cookies_do_not_verify(tmp_path: Path, tamper: object) -> None:
    codec = _codec(tmp_path)
    value = _value(codec, new_session_id())
    assert callable(tamper)
    assert _ids(codec, tamper(value)) == []


def test_a_non_ascii_id_signed_with_our_key_is_not_an_id(tmp_path: Path) -> None:
    codec = _codec(tmp_path)
    assert _ids(codec, _signer(CURRENT).sign("sessión")) == []
