"""The cipher's memory of opened values on a process serving many sessions (benchmarks/
ENCRYPTION.md, "The cold path"): it stays bounded however many values pass through it, a
value read again survives the older generation being dropped, a scalar sealed is remembered
as opened (its next read decrypts nothing) only for its own session and key name, and a list
or object opened cold is the reader's own, whatever brackets its strings hold."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from session_service.records import SessionRecord, utcnow
from session_service.settings.encryption import parse_encryption_keys
from session_service.storable import at_rest_id

pytest.importorskip("cryptography", reason="the `encryption` extra is not installed")

from session_service.stores import _cipher
from session_service.stores._cipher import DataCipher

SETTING = "a:" + base64.b64encode(bytes(range(32))).decode()
STORED = at_rest_id("cold-session")


def cipher() -> DataCipher:
    keys = parse_encryption_keys("SESSION_ENCRYPTION_KEYS", SETTING)
    assert keys is not None
    return DataCipher(keys)


class _Counting:
    """An AEAD that counts its decrypts (a cipher's key objects are swapped for one)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        self.calls += 1
        result: bytes = self.inner.decrypt(nonce, data, aad)
        return result

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        result: bytes = self.inner.encrypt(nonce, data, aad)
        return result


def counting(c: DataCipher) -> _Counting:
    aead = _Counting(c._current)
    c._current = aead  # type: ignore[assignment]
    c._keys = {"a": aead}  # type: ignore[dict-item]
    return aead


def opened(c: DataCipher, data: dict[str, Any], stored_key: str = STORED) -> Any:
    record = SessionRecord(id="cold-session", data=dict(data), expiry_date=utcnow())
    return record.data if c.open(record, stored_key) else None


def remembered(c: DataCipher) -> int:
    return len(c._recent) + len(c._older)


def test_the_memory_stays_bounded_over_many_sessions() -> None:
    sealer, c = cipher(), cipher()
    for i in range(3 * _cipher._REMEMBERED):
        stored = at_rest_id(f"session-{i}")
        assert opened(c, sealer.seal(stored, {"n": i, "cart": [i]}), stored) == {
            "n": i,
            "cart": [i],
        }
        assert remembered(c) <= _cipher._REMEMBERED
    for i in range(3 * _cipher._REMEMBERED):
        c.seal(at_rest_id(f"session-{i}"), {"n": i})
        assert remembered(c) <= _cipher._REMEMBERED


def test_a_value_read_again_outlives_the_older_generation() -> None:
    sealer, c = cipher(), cipher()
    kept = sealer.seal(STORED, {"theme": "dark"})
    aead = counting(c)
    for round_ in range(4):  # each round more values than one generation holds
        assert opened(c, kept) == {"theme": "dark"}
        for i in range(_cipher._REMEMBERED // 2 + 1):
            c._recent[f"other-{round_}-{i}"] = (STORED, "x", i)
            if len(c._recent) >= _cipher._REMEMBERED // 2:
                c._roll()
    assert aead.calls == 1  # opened once, then read from memory every round


def test_a_sealed_scalar_opens_without_a_decrypt_and_only_where_it_was_sealed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = cipher()
    data = {"user_id": "u", "n": 7, "s": "text", "f": 2.5, "t": True, "z": None}
    sealed = c.seal(STORED, data)
    aead = counting(c)
    assert opened(c, sealed) == data
    assert aead.calls == 0
    with caplog.at_level(logging.WARNING):
        assert opened(c, sealed, at_rest_id("another-session")) is None
        assert opened(c, {**sealed, "m": sealed["n"]}) is None  # under another key name
    assert len(caplog.records) == 2
    assert aead.calls == 2  # each checked afresh, and failed
    assert opened(c, sealed) == data


def test_a_sealed_list_or_object_is_opened_from_its_text() -> None:
    c = cipher()
    cart: list[Any] = [1, 2]
    sealed = c.seal(STORED, {"cart": cart, "prefs": {"a": 1}})
    cart.append(3)  # the app changes its own list after the write
    aead = counting(c)
    assert opened(c, sealed) == {"cart": [1, 2], "prefs": {"a": 1}}
    assert aead.calls == 2


@pytest.mark.parametrize(
    "value",
    [
        ["a[b", "c{d"],  # brackets in strings: taken for nesting, decoded again
        {"k": "[x", "j": "{y"},
        {"k": [1, 2]},  # an object holding a list
        [[1], {"a": 2}],
        [1, "two", None],  # flat: copied
        {"theme": "dark"},
    ],
)
def test_a_list_or_object_opened_cold_is_the_readers_own(value: Any) -> None:
    sealer, c = cipher(), cipher()
    sealed = sealer.seal(STORED, {"v": value})
    first = opened(c, sealed)["v"]  # cold: decrypted and remembered
    assert first == value
    _mutate(first)
    second = opened(c, sealed)["v"]  # warm: from memory
    assert second == value
    _mutate(second)
    assert opened(c, sealed)["v"] == value


def _mutate(value: Any) -> None:
    """Change ``value`` and everything nested in it, in place."""
    items = list(value.values()) if isinstance(value, dict) else list(value)
    for item in items:
        if isinstance(item, list | dict):
            _mutate(item)
    if isinstance(value, dict):
        value["added"] = 1
    else:
        value.append("added")
