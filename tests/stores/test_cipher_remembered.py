"""Opened values are remembered (benchmarks/ENCRYPTION.md, "Remembered opens"), and what is
remembered changes nothing a reader can see: a value that opened once opens to an equal, fresh
object (a caller's change to a list it got does not reach the next read), and the same text
moved to another session or key name, relabelled, changed, or read by a cipher without its
key still reads as missing with one log line, after it has opened (and been remembered)
under its own session and key name."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from session_service.records import SessionRecord, utcnow
from session_service.settings.encryption import parse_encryption_keys
from session_service.storable import at_rest_id

pytest.importorskip("cryptography", reason="the `encryption` extra is not installed")

from session_service.stores._cipher import MARK, DataCipher

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(50, 82))).decode()
STORED = at_rest_id("remembered-session")
DATA: dict[str, Any] = {
    "user_id": "alice",
    "cart": [1, {"a": [2]}],
    "prefs": {"theme": "dark"},
    "flat": [1, "two", None],
    "s": "text",
    "n": 7,
    "f": 2.5,
    "t": True,
    "z": None,
}


def cipher(setting: str) -> DataCipher:
    keys = parse_encryption_keys("SESSION_ENCRYPTION_KEYS", setting)
    assert keys is not None
    return DataCipher(keys)


def opened(c: DataCipher, data: dict[str, Any], stored_key: str = STORED) -> Any:
    record = SessionRecord(id="remembered-session", data=dict(data), expiry_date=utcnow())
    return record.data if c.open(record, stored_key) else None


@pytest.fixture
def c() -> DataCipher:
    return cipher(f"a:{KEY_A},b:{KEY_B}")


def test_a_value_opened_again_is_equal_and_fresh(c: DataCipher) -> None:
    sealed = c.seal(STORED, DATA)
    first = opened(c, sealed)
    assert first == DATA
    first["cart"].append(3)
    first["cart"][1]["a"].append(4)
    first["prefs"]["theme"] = "light"
    first["flat"].append(4)
    again = opened(c, sealed)
    assert again == DATA
    assert again["cart"] is not first["cart"]
    assert again["flat"] is not first["flat"]


def test_a_remembered_value_elsewhere_still_does_not_open(
    c: DataCipher, caplog: pytest.LogCaptureFixture
) -> None:
    sealed = c.seal(STORED, DATA)
    assert opened(c, sealed) == DATA  # opened, so remembered
    assert opened(c, sealed) == DATA
    body = sealed["cart"]
    flipped = body[:-4] + ("A" if body[-4] != "A" else "B") + body[-3:]
    relabelled = MARK + "b:" + body.partition(":")[2]
    cases = [
        (sealed, at_rest_id("another-session")),  # copied to another session
        ({**sealed, "s": sealed["cart"]}, STORED),  # to another key name
        ({**sealed, "cart": relabelled}, STORED),  # relabelled with another key id
        ({**sealed, "cart": flipped}, STORED),  # changed
    ]
    for data, stored_key in cases:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert opened(c, data, stored_key) is None
        assert len(caplog.records) == 1
    assert opened(cipher(f"b:{KEY_B}"), sealed) is None  # its key is gone
    assert opened(c, sealed) == DATA


def test_an_older_keys_value_is_remembered_under_its_key(c: DataCipher) -> None:
    sealed = cipher(f"b:{KEY_B}").seal(STORED, DATA)
    assert opened(c, sealed) == DATA
    assert opened(c, sealed) == DATA
    assert opened(c, sealed, at_rest_id("another-session")) is None
    assert opened(cipher(f"a:{KEY_A}"), sealed) is None


def test_a_large_value_opens_every_time(c: DataCipher) -> None:
    data = {"big": "x" * 10_000, "cart": [1]}
    sealed = c.seal(STORED, data)
    assert opened(c, sealed) == data
    assert opened(c, sealed) == data
    assert opened(c, sealed, at_rest_id("another-session")) is None


class _Counting:
    """An AEAD that counts its decrypts (the cipher's key objects are swapped for these)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        self.calls += 1
        result: bytes = self.inner.decrypt(nonce, data, aad)
        return result


def test_a_value_read_again_is_not_decrypted_again(c: DataCipher) -> None:
    sealed = cipher(f"a:{KEY_A},b:{KEY_B}").seal(STORED, DATA)  # sealed elsewhere: not known
    counting = _Counting(c._current)
    c._current = counting  # type: ignore[assignment]
    c._keys = {"a": counting}  # type: ignore[dict-item]
    assert opened(c, sealed) == DATA
    first = counting.calls
    assert first == len(DATA) - 1  # every value but user_id
    assert opened(c, sealed) == DATA
    assert counting.calls == first
