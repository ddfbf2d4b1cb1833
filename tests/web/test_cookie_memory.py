"""The codec remembers cookies it verified (and ids it signed) so a browser's repeated cookie
costs one HMAC, not one per request; what it answers never changes because of that memory.

Pure codec tests (no store): the middleware tests cover the codec over every store kind.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from itsdangerous import Signer

from session_service.records import new_session_id
from session_service.web import cookie as cookie_module
from session_service.web.cookie import REMEMBERED, CookieCodec
from tests.support.webapp import settings_for

CURRENT = "current-key-0123456789abcdef0123456789"
OLD = "old-key-0123456789abcdef0123456789abcdef"
SALT = b"session_service.cookie"


def _codec(tmp_path: Path, *fallbacks: str) -> CookieCodec:
    extra = {"SESSION_SECRET_KEY": CURRENT}
    if fallbacks:
        extra["SESSION_SECRET_KEY_FALLBACKS"] = ",".join(fallbacks)
    return CookieCodec(settings_for(f"sqlite:///{tmp_path}/s.db", str(tmp_path), **extra))


def _value(codec: CookieCodec, session_id: str) -> bytes:
    return codec.set_header(session_id).split(b";")[0].partition(b"=")[2]


def _ids(codec: CookieCodec, value: bytes) -> list[str]:
    return codec.session_ids([(b"cookie", b"session_id=" + value)])[0]


def test_a_cookie_verified_by_a_fallback_key_is_re_sent_signed_by_the_current_key(
    tmp_path: Path,
) -> None:
    codec = _codec(tmp_path, OLD)
    sid = new_session_id()
    old_value = Signer(OLD, salt=SALT, digest_method=hashlib.sha256).sign(sid)
    assert _ids(codec, old_value) == [sid]
    assert _ids(codec, old_value) == [sid]  # again, from memory
    sent = _value(codec, sid)
    assert sent != old_value
    assert sent == Signer(CURRENT, salt=SALT, digest_method=hashlib.sha256).sign(sid)


def test_a_remembered_cookie_answers_what_a_fresh_codec_answers(tmp_path: Path) -> None:
    codec = _codec(tmp_path)
    sid = new_session_id()
    value = _value(codec, sid)
    for _ in range(3):
        assert _ids(codec, value) == [sid]
        assert _ids(_codec(tmp_path), value) == [sid]
        assert _ids(codec, value[:-1] + b"A" if value[-1:] != b"A" else value[:-1] + b"B") == []
    assert _ids(_codec(tmp_path.parent), value) == [sid]  # same key: same answer


def test_rejected_cookies_are_never_remembered_and_the_memory_is_bounded(
    tmp_path: Path,
) -> None:
    codec = _codec(tmp_path)
    for i in range(50):
        assert _ids(codec, f"forged-{i}.c2lnbmF0dXJl".encode()) == []
    assert not codec._known  # only values that verified
    for _ in range(REMEMBERED + 10):
        sid = new_session_id()
        assert _ids(codec, _value(codec, sid)) == [sid]
    assert len(codec._known) <= REMEMBERED and len(codec._signed) <= REMEMBERED


def test_a_repeated_cookie_is_verified_by_one_hmac(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codec = _codec(tmp_path)
    value = _value(_codec(tmp_path), new_session_id())
    calls: list[bytes] = []
    real = cookie_module._signature

    def counted(keyed: hmac.HMAC, raw: bytes) -> bytes:
        calls.append(raw)
        return real(keyed, raw)

    monkeypatch.setattr(cookie_module, "_signature", counted)
    for _ in range(5):
        assert len(_ids(codec, value)) == 1
    assert len(calls) == 1
