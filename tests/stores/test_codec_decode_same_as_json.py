"""Stored session text decodes exactly as ``json.loads`` decodes it, and what ``json.loads``
refuses reads as an empty session: whatever shortcut the codec takes for the text this
library writes. Pure codec tests: the contract suite covers the stores."""

from __future__ import annotations

import json

import pytest

from session_service.stores._codec import _loads, decode_data

TEXTS = [
    '{"user_id":"u","n":1}',
    '{"a":[1,2,{"b":null}],"c":true,"d":1.5e3,"e":"\\u00e9\\n"}',
    "{}",
    ' {"a":1}',  # surrounding whitespace: not what the library writes, still JSON
    '{"a":1} ',
    "\n{}\t",
    "[1,2]",  # JSON, not an object
    '"text"',
    "12",
    "null",
    '{"k":1}{"k":2}',  # two documents: not JSON
    '{"k":1} x',
    "",
    "   ",
    "{",
    '{"a":NaN}',
    '{"a":Infinity}',
    "nope",
    '{"a":1,}',
]


@pytest.mark.parametrize("text", TEXTS)
def test_stored_text_decodes_as_json_loads_does(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError as exc:
        with pytest.raises(type(exc)) as raised:
            _loads(text)
        assert str(raised.value) == str(exc)
        assert decode_data(text) == {}
        return
    assert _loads(text) == expected
    assert decode_data(text) == (expected if isinstance(expected, dict) else {})


def test_a_decoded_session_is_a_fresh_dict_each_time() -> None:
    text = '{"cart":[1,2],"user":{"id":1}}'
    first = decode_data(text)
    first["cart"].append(3)
    assert decode_data(text) == {"cart": [1, 2], "user": {"id": 1}}
