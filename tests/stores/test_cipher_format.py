"""The sealed-value format stays what it was (docs/security.md, "Encryption at rest"): values
sealed by an earlier release open, under the first key and under an older listed one; what
:meth:`DataCipher.seal` writes is AES-256-GCM over the value's compact JSON with the documented
associated data; every seal draws a fresh nonce; and a value that cannot be stored is refused
with the words an unsealed write uses. The store contract (``EncryptionRules``) covers the
stores; this pins the cipher's own bytes, which the per-request work was cut down around
(benchmarks/ENCRYPTION.md, "Instruction counts")."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from session_service.errors import SessionDataError
from session_service.records import SessionRecord, utcnow
from session_service.settings.encryption import parse_encryption_keys
from session_service.storable import at_rest_id

pytest.importorskip("cryptography", reason="the `encryption` extra is not installed")

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from session_service.stores._cipher import MARK, DataCipher

OLD_KEY = base64.b64encode(bytes(range(32))).decode()
NEW_KEY = base64.b64encode(bytes(range(100, 132))).decode()
STORED_KEY = at_rest_id("golden-session")
PLAIN: dict[str, Any] = {
    "user_id": "alice",
    "card": "4111-1111-1111-1111",
    "cart": [1, 2.5, None, True, {"a": "é\u2028"}],
    "n": 0,
    "s": "dark",
}
#: ``PLAIN`` as the release before the instruction-count work sealed it, under ``old``.
SEALED_BY_OLD = {
    "user_id": "alice",
    "card": "\ufdd0old:khZQZiXQ/70lmQW39GlE/GP6AhPDXoo9x/YvXUlMXJ85ymch1sGaQEiG8IIRgZuxaA==",
    "cart": "\ufdd0old:oOgCKE7dnrezl3jx1FiGx0ctbQiP444LZHK/1PQX"
    "S8LoGk70XIuNjyBnyGJD+DUJfq0x0RXjQ7XV2h4=",
    "n": "\ufdd0old:Tsgpx2546Sr/azJuomYzZidOWYFJQPDYHUyqUys=",
    "s": "\ufdd0old:w5Q+XFPAxk4rrjfP2eUwqI2vTIRdhU09bx8QAtf876M2vw==",
}
#: The same, sealed under ``new`` (the first key of ``new,old``).
SEALED_BY_NEW = {
    "user_id": "alice",
    "card": "\ufdd0new:Vlh2OA8WAVySDOqcRW8Bt18xlAySYYs5DJnsLtKL3KGx7ZuBsQGICaKtXLZd/RKElg==",
    "cart": "\ufdd0new:YjwWSwqWMb8nYwe82rObi1djKtF6rITDAgcmwpCc"
    "vB8K/g2n/RQIK6Y1qXiAavz/QWmPsutBnKQ6WrE=",
    "n": "\ufdd0new:XhXie1ZsVpPqb9y6znfIHegxDN4Y+2W/p+NdL58=",
    "s": "\ufdd0new:L0Mpqh4pcCq5+4kkf6YL3qmLex5TCqMXiO6C+lWX3N1BwQ==",
}
SAMPLES: list[Any] = [
    0,
    -7,
    10**30,
    2.5,
    1e300,
    -0.0,
    5e-324,
    True,
    False,
    None,
    "",
    "dark",
    'é\u2028"\\x\n',
    [],
    {},
    [1, 2, 3],
    {"a": [1, {"b": None}], "c": "d"},
]


def cipher(setting: str) -> DataCipher:
    keys = parse_encryption_keys("SESSION_ENCRYPTION_KEYS", setting)
    assert keys is not None
    return DataCipher(keys)


def opened(c: DataCipher, data: dict[str, Any], stored_key: str = STORED_KEY) -> Any:
    record = SessionRecord(id="golden-session", data=dict(data), expiry_date=utcnow())
    return record.data if c.open(record, stored_key) else None


@pytest.mark.parametrize("setting", [f"old:{OLD_KEY}", f"new:{NEW_KEY},old:{OLD_KEY}"])
def test_values_sealed_by_an_earlier_release_open(setting: str) -> None:
    assert opened(cipher(setting), SEALED_BY_OLD) == PLAIN
    if setting.startswith("new"):
        assert opened(cipher(setting), SEALED_BY_NEW) == PLAIN
        assert opened(cipher(setting), {**SEALED_BY_NEW, "n": SEALED_BY_OLD["n"]}) == PLAIN


def test_an_earlier_releases_value_changed_moved_or_relabelled_does_not_open() -> None:
    c = cipher(f"new:{NEW_KEY},old:{OLD_KEY}")
    body = SEALED_BY_NEW["card"]
    flipped = body[:-6] + ("A" if body[-6] != "A" else "B") + body[-5:]
    assert opened(c, {**SEALED_BY_NEW, "card": flipped}) is None
    assert opened(c, {**SEALED_BY_NEW, "s": SEALED_BY_NEW["card"]}) is None  # another key name
    assert opened(c, SEALED_BY_NEW, at_rest_id("another-session")) is None
    relabelled = MARK + "old:" + body.partition(":")[2]
    assert opened(c, {**SEALED_BY_NEW, "card": relabelled}) is None
    assert opened(cipher(f"new:{NEW_KEY}"), SEALED_BY_OLD) is None  # its key is gone


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_a_sealed_value_is_aes_gcm_over_its_json_bound_as_documented(value: Any) -> None:
    sealed = cipher(f"new:{NEW_KEY},old:{OLD_KEY}").seal(STORED_KEY, {"v": value, "user_id": 7})
    assert sealed["user_id"] == 7
    assert sealed["v"].startswith(MARK + "new:")
    raw = base64.b64decode(sealed["v"][len(MARK + "new:") :], validate=True)
    aad = b"session-service/v1\x00" + STORED_KEY.encode() + b"\x00new\x00v"
    text = AESGCM(base64.b64decode(NEW_KEY)).decrypt(raw[:12], raw[12:], aad)
    assert text.decode() == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert opened(cipher(f"new:{NEW_KEY}"), sealed) == {"v": value, "user_id": 7}


def test_every_seal_draws_its_own_nonce() -> None:
    c = cipher(f"new:{NEW_KEY}")
    prefix = len(MARK + "new:")
    nonces = []
    for _ in range(20):
        sealed = c.seal(STORED_KEY, {f"k{i}": i for i in range(10)})
        nonces += [base64.b64decode(v[prefix:])[:12] for v in sealed.values()]
        nonces += [base64.b64decode(c.seal(STORED_KEY, {"one": 1})["one"][prefix:])[:12]]
    assert len(nonces) == 220 and len(set(nonces)) == 220


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (float("nan"), r"session\['bad'\] cannot be stored as JSON: Out of range float"),
        (object(), r"session\['bad'\] cannot be stored as JSON: Object of type object"),
        ("a\x00b", r"session\['bad'\] cannot contain the NUL character"),
        ("\ud800", r"session\['bad'\] holds text that is not valid Unicode"),
    ],
    ids=["nan", "object", "nul", "surrogate"],
)
def test_a_value_that_cannot_be_stored_is_refused_with_the_plain_words(
    value: Any, words: str
) -> None:
    with pytest.raises(SessionDataError, match=words):
        cipher(f"new:{NEW_KEY}").seal(STORED_KEY, {"ok": 1, "bad": value})


def test_a_cycle_is_refused_with_the_plain_words() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(SessionDataError, match=r"session\['c'\].*Circular reference detected"):
        cipher(f"new:{NEW_KEY}").seal(STORED_KEY, {"c": loop})
