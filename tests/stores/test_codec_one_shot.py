"""The session encoder built once (``_codec._one_shot``) writes what ``json.dumps`` writes and
fails as it always failed, a cycle included (the one-shot encoder keeps no markers)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from session_service.errors import SessionDataError
from session_service.stores._codec import encode_json

SAMPLES: list[dict[str, Any]] = [
    {},
    {"n": 5},
    {"user_id": "bench-user", "theme": "dark", "cart": [1, 2, 3], "n": 0},
    {"s": 'é\u2028"\\x\n', "l": [1, 2.5, None, True, False, {"a": [], "b": {}}], "big": 10**30},
    {"f": 1e300, "neg": -0.0, "tiny": 5e-324},
]


@pytest.mark.parametrize("data", SAMPLES)
def test_same_text_as_json_dumps(data: dict[str, Any]) -> None:
    assert encode_json(data) == json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def test_a_cycle_is_refused_with_the_usual_words() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(SessionDataError, match=r"session\['c'\].*Circular reference detected"):
        encode_json({"c": loop})
    assert encode_json({"ok": [1]}) == '{"ok":[1]}'  # nothing left behind by the failure


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (float("nan"), "Out of range float values are not JSON compliant"),
        (object(), "Object of type object is not JSON serializable"),
        (b"x", "Object of type bytes is not JSON serializable"),
    ],
)
def test_bad_values_fail_as_before(value: Any, words: str) -> None:
    with pytest.raises(
        SessionDataError, match=rf"session\['k'\] cannot be stored as JSON: {words}"
    ):
        encode_json({"k": value})
