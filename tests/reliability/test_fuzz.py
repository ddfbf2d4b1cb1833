"""Fuzzing the two things a client controls: the cookie it sends and the data it makes us store.

Properties, on both backends, through the real middleware (called as a raw ASGI app, so any
bytes can go in a header):

* whatever the ``Cookie`` header holds (arbitrary bytes, huge, many parts, tampered or foreign
  signatures, signed unknown ids), the answer is a 2xx with an empty session, and the store is
  asked for no write;
* whatever JSON a handler stores (unicode, huge numbers, deep nesting, NaN, NUL, oversized), the
  session either round-trips exactly or the request fails with :class:`SessionDataError`, the
  documented error, and nothing is written. A ``5xx`` is never anything else.

One app and one database per backend for the whole module; hypothesis example counts stay
modest so the suite stays fast.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from itsdangerous import Signer
from itsdangerous.encoding import base64_decode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, SessionDataError
from session_service.backend import SessionStoreBackend
from session_service.settings import DEFAULT_MAX_BYTES
from session_service.stores.memory import forget as forget_memory
from session_service.web.cookie import MAX_COOKIE_IDS, CookieCodec

from ..conftest import (
    BACKENDS,
    create_pg_database,
    drop_pg_database,
    redis_keys_without_ttl_then_delete,
    redis_test_url,
    sqlite_url,
)
from ..support.webapp import CountingBackend, settings_for

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


async def _get(request: Request) -> Response:
    return JSONResponse({"data": dict(request.session)})


async def _put(request: Request) -> Response:
    """Store the request body's JSON (parsed here, so NaN and deep nesting reach the store)."""
    try:
        value = json.loads(await request.body())
    except (ValueError, RecursionError):
        return PlainTextResponse("not JSON", status_code=400)
    request.session["v"] = value
    return PlainTextResponse("stored")


async def _nest(request: Request) -> Response:
    depth = int(request.query_params["depth"])
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    request.session["v"] = value
    return PlainTextResponse("stored")


def _app(service: DefaultSessionService) -> Starlette:
    routes = [
        Route("/get", _get),
        Route("/put", _put, methods=["POST"]),
        Route("/nest", _nest, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[service.session_layer()])


@dataclass
class _Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    error: BaseException | None

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Harness:
    runner: asyncio.Runner
    app: Starlette
    counted: CountingBackend
    codec: CookieCodec
    cookie_name: bytes = b"session_id"

    def call(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
    ) -> _Answer:
        return self.runner.run(self._call(method, path, headers, body))

    async def _call(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> _Answer:
        route, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": route,
            "raw_path": route.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1234),
            "server": ("testserver", 80),
        }
        messages: list[dict[str, Any]] = []
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if sent_body:
                return {"type": "http.disconnect"}
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Any) -> None:
            messages.append(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # Starlette answered 500 and re-raised; report both
            error = exc
        start = next(m for m in messages if m["type"] == "http.response.start")
        content = b"".join(
            m.get("body", b"") for m in messages if m["type"] == "http.response.body"
        )
        return _Answer(start["status"], list(start.get("headers", [])), content, error)

    def cookie_for(self, answer: _Answer) -> list[tuple[bytes, bytes]]:
        header = answer.header(b"set-cookie")
        assert header is not None and header.startswith(self.cookie_name + b"=")
        return [(b"cookie", header.split(b";", 1)[0])]

    def total(self) -> int:
        return self.runner.run(self.counted.stats()).total


@pytest.fixture(scope="module", params=BACKENDS)
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Harness]:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        url = sqlite_url(directory)
    elif request.param == "redis":
        url = redis_test_url(request.getfixturevalue("redis_server_url"))
    elif request.param == "memory":
        url = f"memory://fuzz_{directory.name}"
    else:
        url = create_pg_database(request.getfixturevalue("pg_server_url"))
    runner = asyncio.Runner()
    try:
        inner = runner.run(SessionStoreBackend.connect(url))
        runner.run(inner.migrate())
        counted = CountingBackend(inner)
        settings_ = settings_for(url, str(directory))
        service = DefaultSessionService(counted, settings_)
        yield _Harness(runner, _app(service), counted, CookieCodec(settings_))
        runner.run(service.close())
    finally:
        runner.close()
        if request.param == "postgres":
            drop_pg_database(url)
        elif request.param == "redis":
            assert not redis_keys_without_ttl_then_delete(url)
        elif request.param == "memory":
            forget_memory(url)


def _assert_no_trace(h: _Harness, answer: _Answer, writes_before: int) -> None:
    """The request got an empty session, a 2xx, and the store was asked to write nothing."""
    assert answer.error is None, repr(answer.error)
    assert answer.status == 200
    assert answer.json() == {"data": {}}
    assert h.counted.writes == writes_before
    header = answer.header(b"set-cookie")
    assert header is None or header == h.codec.clear_header()


# -- cookies ---------------------------------------------------------------------------------


def _encodable(*texts: str) -> bool:
    try:
        for text in texts:
            text.encode()
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _same_signed_id(a: bytes, b: bytes) -> bool:
    """Whether two cookie values name the same id with the same signature bytes (base64 can
    spell one signature two ways: the last character's unused padding bits)."""
    (a_id, _, a_sig), (b_id, _, b_sig) = (v.strip().strip(b'"').rpartition(b".") for v in (a, b))
    try:
        return a_id == b_id and base64_decode(a_sig) == base64_decode(b_sig)
    except Exception:  # not base64 at all
        return False


@FUZZ
@given(value=st.binary(max_size=2048))
def test_arbitrary_bytes_as_the_cookie_value_give_an_empty_session(
    harness: _Harness, value: bytes
) -> None:
    before = harness.counted.writes
    answer = harness.call("GET", "/get", [(b"cookie", b"session_id=" + value)])
    _assert_no_trace(harness, answer, before)


@FUZZ
@given(header=st.binary(max_size=4096))
def test_arbitrary_bytes_as_the_whole_cookie_header_give_an_empty_session(
    harness: _Harness, header: bytes
) -> None:
    before = harness.counted.writes
    answer = harness.call("GET", "/get", [(b"cookie", header), (b"cookie", b";=;" + header)])
    _assert_no_trace(harness, answer, before)


@FUZZ
@given(
    size=st.integers(min_value=0, max_value=256 * 1024),
    parts=st.integers(min_value=1, max_value=2000),
    filler=st.sampled_from([b"a", b"\xff", b"=", b'"', b".", b"\x00"]),
)
def test_huge_cookies_and_many_cookie_parts_give_an_empty_session(
    harness: _Harness, size: int, parts: int, filler: bytes
) -> None:
    before = harness.counted.writes
    one = b"session_id=" + filler * (size // parts)
    answer = harness.call("GET", "/get", [(b"cookie", b"; ".join([one] * parts))])
    _assert_no_trace(harness, answer, before)


@FUZZ
@given(session_id=st.text(max_size=200))
def test_validly_signed_unknown_ids_give_an_empty_session(
    harness: _Harness, session_id: str
) -> None:
    """What a leaked or guessed-key cookie could name: never adopted, never written."""
    assume(_encodable(session_id))  # the signer only signs what it can encode
    signed = harness.codec.set_header(session_id).split(b";", 1)[0]
    before = harness.counted.writes
    answer = harness.call("GET", "/get", [(b"cookie", signed)])
    _assert_no_trace(harness, answer, before)


@FUZZ
@given(key=st.text(min_size=1, max_size=64), session_id=st.text(min_size=1, max_size=64))
def test_cookies_signed_with_a_foreign_key_give_an_empty_session(
    harness: _Harness, key: str, session_id: str
) -> None:
    assume(_encodable(key, session_id))
    signer = Signer(key, salt=b"session_service.cookie", digest_method=hashlib.sha256)
    value = signer.sign(session_id)
    before = harness.counted.writes
    answer = harness.call("GET", "/get", [(b"cookie", b"session_id=" + value)])
    _assert_no_trace(harness, answer, before)


@FUZZ
@given(data=st.data())
def test_a_tampered_cookie_never_opens_another_session(
    harness: _Harness, data: st.DataObject
) -> None:
    created = harness.call("POST", "/put", [], b'{"owner": "fuzz"}')
    assert created.status == 200
    (cookie,) = harness.cookie_for(created)
    value = bytearray(cookie[1].partition(b"=")[2])
    position = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
    replacement = data.draw(
        st.integers(min_value=0, max_value=255).filter(lambda b: b != value[position])
    )
    original = bytes(value)
    value[position] = replacement
    tampered = bytes(value)
    assume(not _same_signed_id(tampered, original))  # a respelling of the same signature
    before, loads = harness.counted.writes, harness.counted.calls["load"]
    answer = harness.call("GET", "/get", [(b"cookie", b"session_id=" + tampered)])
    assert answer.error is None and answer.status == 200
    assert answer.json()["data"] == {}, f"the tampered cookie {tampered!r} opened the session"
    assert harness.counted.calls["load"] == loads, "a tampered cookie reached the store"
    assert harness.counted.writes == before


# -- session payloads ------------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
)
_json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: PostgreSQL's jsonb keeps numbers as decimals, so a float written
    as ``1e+300`` may come back as the integer ``10**300``; the value is the same."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return bool(a == b)


def _storable(value: Any) -> bool:
    """What the codec must accept: finite numbers, NUL-free valid Unicode, under the limit."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    return True


def _store(h: _Harness, body: bytes, expect_ok: bool) -> _Answer | None:
    """Store ``body``; the created session's answer, or ``None`` if it was (rightly) refused."""
    total = h.total()
    answer = h.call("POST", "/put", [], body)
    if answer.error is None:
        assert answer.status == 200, answer.body
        return answer
    assert isinstance(answer.error, SessionDataError), repr(answer.error)
    assert answer.status == 500
    assert not expect_ok, f"refused a storable value: {answer.error}"
    assert h.total() == total, "a refused session was written"
    return None


@FUZZ
@given(value=_json_values)
def test_any_json_value_round_trips_or_is_refused_with_a_data_error(
    harness: _Harness, value: Any
) -> None:
    body = json.dumps(value, ensure_ascii=True).encode()
    answer = _store(harness, body, expect_ok=_storable(value))
    if answer is None:
        return
    back = harness.call("GET", "/get", harness.cookie_for(answer))
    assert back.error is None and back.status == 200
    assert _same_json(back.json()["data"], {"v": value})


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(depth=st.integers(min_value=1, max_value=5000))
def test_deeply_nested_data_round_trips_or_is_refused_with_a_data_error(
    harness: _Harness, depth: int
) -> None:
    total = harness.total()
    answer = harness.call("POST", f"/nest?depth={depth}", [])
    if answer.error is not None:
        assert isinstance(answer.error, SessionDataError), repr(answer.error)
        assert answer.status == 500
        assert harness.total() == total
        return
    assert answer.status == 200
    # Read back through the store: the test handler's own JSON response is not under test.
    (session_id,) = harness.codec.session_ids(harness.cookie_for(answer))[0]
    record = harness.runner.run(harness.counted.load(session_id))
    assert record is not None
    value = record.data["v"]
    for _ in range(depth):
        (value,) = value
    assert value == "leaf"


@FUZZ
@given(size=st.integers(min_value=0, max_value=3 * DEFAULT_MAX_BYTES))
def test_the_size_limit_refuses_oversized_sessions_with_a_clear_error(
    harness: _Harness, size: int
) -> None:
    body = json.dumps("é" * size).encode()  # two bytes each in UTF-8: the limit is in bytes
    encoded = json.dumps({"v": "é" * size}, separators=(",", ":"), ensure_ascii=False)
    encoded_size = len(encoded.encode())
    total = harness.total()
    answer = harness.call("POST", "/put", [], body)
    if encoded_size <= DEFAULT_MAX_BYTES:
        assert answer.error is None and answer.status == 200
        return
    assert isinstance(answer.error, SessionDataError)
    assert "SESSION_MAX_BYTES" in str(answer.error)
    assert f"limit of {DEFAULT_MAX_BYTES:,}" in str(answer.error)
    assert answer.status == 500
    assert harness.total() == total


def test_the_size_limit_is_exact(harness: _Harness) -> None:
    overhead = len(json.dumps({"v": ""}, separators=(",", ":")))
    fits = "x" * (DEFAULT_MAX_BYTES - overhead)
    assert _store(harness, json.dumps(fits).encode(), expect_ok=True) is not None
    assert _store(harness, json.dumps(fits + "x").encode(), expect_ok=False) is None


@FUZZ
@given(count=st.integers(min_value=1, max_value=300))
def test_many_validly_signed_cookies_cost_a_bounded_number_of_lookups(
    harness: _Harness, count: int
) -> None:
    """A client replaying many of its old (signed, dead) cookies at once is not an amplifier."""
    cookies = [harness.codec.set_header(f"dead-{i}").split(b";", 1)[0] for i in range(count)]
    before_loads, before_writes = harness.counted.calls["load"], harness.counted.writes
    answer = harness.call("GET", "/get", [(b"cookie", b"; ".join(cookies))])
    _assert_no_trace(harness, answer, before_writes)
    assert harness.counted.calls["load"] - before_loads <= MAX_COOKIE_IDS
