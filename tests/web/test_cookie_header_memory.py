"""The codec remembers whole ``Cookie`` header values that carried a verified id, so a browser
sending the same header on every request skips parsing it; what ``session_ids`` answers for
any headers is what a codec that never saw them answers.

Pure codec tests (no store): the middleware tests cover the codec over every store kind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from session_service.records import new_session_id
from session_service.web import cookie as cookie_module
from session_service.web.cookie import MAX_COOKIE_IDS, CookieCodec
from tests.support.webapp import settings_for

KEY = "header-memory-key-0123456789abcdef012345"


def _codec(tmp_path: Path) -> CookieCodec:
    return CookieCodec(
        settings_for(f"sqlite:///{tmp_path}/s.db", str(tmp_path), SESSION_SECRET_KEY=KEY)
    )


def _value(codec: CookieCodec, session_id: str) -> bytes:
    return codec.set_header(session_id).split(b";")[0].partition(b"=")[2]


def _cases(codec: CookieCodec) -> list[list[tuple[bytes, bytes]]]:
    a, b = _value(codec, new_session_id()), _value(codec, new_session_id())
    many = [_value(codec, new_session_id()) for _ in range(MAX_COOKIE_IDS + 2)]
    return [
        [(b"cookie", b"session_id=" + a)],
        [(b"cookie", b"theme=dark; session_id=" + a + b"; lang=en")],
        [(b"cookie", b"session_id=" + a[:-2] + b"xx; session_id=" + b)],  # tampered, then good
        [(b"cookie", b"session_id=" + a), (b"cookie", b"session_id=" + b)],  # two headers
        [(b"cookie", b"session_id=" + a), (b"cookie", b"xsession_id=" + b)],
        [(b"cookie", b"xsession_id=" + a)],  # the name inside another name: not sent
        [(b"cookie", b"session_id=junk")],  # sent, no id
        [(b"cookie", b"; ".join(b"session_id=" + v for v in many))],
        [
            (b"cookie", b"; ".join(b"session_id=" + v for v in many[:3])),
            (b"cookie", b"; ".join(b"session_id=" + v for v in many[3:])),
        ],
        [(b"host", b"session_id=" + a), (b"cookie", b'session_id="' + b + b'"')],
    ]


def test_a_remembered_header_answers_what_a_fresh_codec_answers(tmp_path: Path) -> None:
    codec = _codec(tmp_path)
    for headers in _cases(codec):
        fresh = _codec(tmp_path).session_ids(headers)
        assert len(fresh[0]) <= MAX_COOKIE_IDS
        for _ in range(3):  # the first call parses; the next ones may answer from memory
            assert codec.session_ids(headers) == fresh
        # Each header on its own, after the pair was remembered, answers as it always did.
        for header in headers:
            assert codec.session_ids([header]) == _codec(tmp_path).session_ids([header])


def test_a_header_without_a_verified_id_is_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Junk cannot fill the memory: only headers that carried a verified id are kept, and
    the memory starts over when full."""
    monkeypatch.setattr(cookie_module, "REMEMBERED", 8)
    codec = _codec(tmp_path)
    good = _value(codec, new_session_id())
    for i in range(50):
        assert codec.session_ids([(b"cookie", b"session_id=junk%d" % i)]) == ([], True)
    assert len(codec._headers) == 0
    for i in range(50):
        header = b"n=%d; session_id=" % i + good
        assert len(codec.session_ids([(b"cookie", header)])[0]) == 1
        assert len(codec._headers) <= 8
