"""Session data <-> JSON text, with the checks that keep bad data out of the database.

Encoding happens once, before any statement runs, so a value that is not JSON or a session
that is too large fails with a :class:`SessionDataError` naming the key and nothing is written.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from ..errors import SessionDataError

_log = logging.getLogger(__name__)

# One encoder and one decoder for the process: ``json.dumps`` with keyword arguments builds a
# new ``JSONEncoder`` on every call, a measurable share of a session write. Both are stateless.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
_encode = _ENCODER.encode
_decoder = json.JSONDecoder()
#: ``_encode`` without its per-call cost: ``JSONEncoder.encode`` builds a new C encoder on
#: every call (about half of encoding a small session). This one is built once, without the
#: circular-reference markers (a dict shared between calls and threads would be state), so a
#: cycle ends in ``RecursionError``; :func:`encode_json` then encodes again with ``_encode``,
#: which raises what it always raised.
_one_shot = (
    None
    if c_make_encoder is None
    else c_make_encoder(
        None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, False
    )
)
_decode = _decoder.decode
#: The decoder's scanner itself (C): ``raw_decode`` without its Python frame, which only
#: turns the scanner's ``StopIteration`` into a ``JSONDecodeError``.
_scan_once = _decoder.scan_once  # type: ignore[attr-defined]


def _loads(text: str) -> Any:
    """``json.loads(text)``, faster for what this library writes (no surrounding whitespace):
    the scanner skips ``decode``'s two whitespace scans and ``raw_decode``'s frame (every
    load pays it); anything else takes the full path, which accepts the same texts and
    raises the same errors."""
    try:
        decoded, end = _scan_once(text, 0)
        if end == len(text):
            return decoded
    except (StopIteration, ValueError):
        pass
    return _decode(text)


#: ``json``'s scanner: ``(value, end)`` of the text's value from an index, or StopIteration.
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


def encode_value(value: Any) -> str:
    """One JSON value as compact text (what ``_encode`` returns), without ``_encode``'s
    per-call encoder: a string takes ``encode_basestring`` (``_encode``'s own fast path), the
    rest :data:`_one_shot`. It raises what ``_encode`` raises (a cycle included: the one-shot
    encoder's ``RecursionError`` sends it down ``_encode``). Encryption encodes each value on
    its own (:mod:`._cipher`), where ``_encode``'s set-up was a third of sealing one."""
    if type(value) is str:
        return encode_basestring(value)
    if _one_shot is None:
        return _encode(value)
    try:
        return "".join(_one_shot(value, 0))
    except RecursionError:
        return _encode(value)


class EncodedJson(str):
    """JSON text that is already encoded: the engine's serializer passes it through as is."""

    __slots__ = ()


#: A JSON ``\u0000`` escape (a NUL character), not an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _first_bad_key(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            return str(key)
    return None


def _first_key_with_nul(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if _NUL_ESCAPE.search(json.dumps([key, value], ensure_ascii=False)):
            return key
    return None


def _first_unencodable_key(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        try:
            json.dumps([key, value], ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return key  # shown with repr(), which escapes the surrogate
    return None


def encode_data(data: dict[str, Any], max_bytes: int | None = None) -> EncodedJson:
    """:func:`encode_json` as :class:`EncodedJson` (what an engine's JSON column takes)."""
    return EncodedJson(encode_json(data, max_bytes))


def encode_json(data: dict[str, Any], max_bytes: int | None = None) -> str:
    """Encode ``data`` as compact JSON, refusing what would not round-trip.

    NaN and infinities are refused (they are not JSON; PostgreSQL's jsonb rejects them), and
    so are non-string keys, which JSON would silently turn into strings.
    """
    if not isinstance(data, dict):
        raise SessionDataError(f"session data must be a dict, not {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise SessionDataError(f"session keys must be strings, not {key!r}")
    try:
        if _one_shot is None:
            text = _encode(data)
        else:
            try:
                text = "".join(_one_shot(data, 0))
            except RecursionError:  # a cycle, or nesting too deep: the usual error for it
                text = _encode(data)
    except (TypeError, ValueError, RecursionError) as exc:
        bad = _first_bad_key(data)
        where = f"session[{bad!r}]" if bad is not None else "the session"
        raise SessionDataError(f"{where} cannot be stored as JSON: {exc}") from None
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        # PostgreSQL text and jsonb cannot hold NUL; refuse it on every backend alike.
        bad = _first_key_with_nul(data)
        where = f"session[{bad!r}]" if bad is not None else "session data"
        raise SessionDataError(f"{where} cannot contain the NUL character (\\u0000)")
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        # An unpaired surrogate (e.g. from os.fsdecode) is not UTF-8; no database can hold it.
        bad = _first_unencodable_key(data)
        where = f"session[{bad!r}]" if bad is not None else "the session"
        raise SessionDataError(f"{where} holds text that is not valid Unicode") from None
    if max_bytes is not None and size > max_bytes:
        raise SessionDataError(
            f"the session is {size:,} bytes as JSON, over the limit of {max_bytes:,} "
            "(SESSION_MAX_BYTES); keep large data elsewhere and store a reference"
        )
    return text


def json_serializer(obj: Any) -> str:
    """The engines' JSON serializer: pre-encoded text passes through, the rest is encoded."""
    if isinstance(obj, EncodedJson):
        return str(obj)
    return _encode(obj)


def decode_data(value: Any) -> dict[str, Any]:
    """A stored value back to a dict (drivers hand back either text or an already-parsed dict).

    A row this library did not write (an upgraded SQLite table) may hold anything: what is not a
    JSON object reads as an empty session, as Django treats corrupted session data, rather than
    making every reader of that row (and ``dump_all_sessions``) fail.
    """
    if isinstance(value, str):  # what both SQL drivers hand back: checked first
        try:
            decoded = _loads(value)
        except ValueError:
            _log.warning("a stored session's data is not valid JSON; reading it as empty")
            return {}
        return decoded if isinstance(decoded, dict) else {}
    if isinstance(value, dict):
        return value
    if isinstance(value, bytes):
        try:
            decoded = json.loads(value)
        except ValueError:
            _log.warning("a stored session's data is not valid JSON; reading it as empty")
            return {}
        if isinstance(decoded, dict):
            return decoded
    return {}
