"""``Session`` is a ``dict``: every operation gives what a dict gives, and the session knows
whether the request read it (``accessed``) and changed it (``modified``).

No store is involved: these are the object's own rules. The middleware-level counterparts run
over every store kind in ``tests/compat``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.responses import JSONResponse

from session_service import Session

DATA = {"a": 1, "b": [1, 2], "c": {"d": None}}

# (name, operation): each is applied to a Session and to a plain dict holding the same data.
MUTATIONS: list[tuple[str, Callable[[Any], Any]]] = [
    ("setitem", lambda d: d.__setitem__("z", 9)),
    ("setitem existing", lambda d: d.__setitem__("a", 2)),
    ("delitem", lambda d: d.__delitem__("a")),
    ("pop", lambda d: d.pop("b")),
    ("pop default present", lambda d: d.pop("b", None)),
    ("popitem", lambda d: d.popitem()),
    ("setdefault new", lambda d: d.setdefault("z", 3)),
    ("update mapping", lambda d: d.update({"a": 5, "y": 6})),
    ("update pairs and kwargs", lambda d: d.update([("p", 1)], q=2)),
    ("ior", lambda d: d.__ior__({"m": 1})),
    ("clear", lambda d: d.clear()),
]

READS: list[tuple[str, Callable[[Any], Any]]] = [
    ("getitem", lambda d: d["a"]),
    ("get", lambda d: d.get("a")),
    ("get missing", lambda d: d.get("nope", "dflt")),
    ("contains", lambda d: "a" in d),
    ("len", len),
    ("bool", bool),
    ("iter", list),
    ("reversed", lambda d: list(reversed(d))),
    ("keys", lambda d: list(d.keys())),
    ("values", lambda d: list(d.values())),
    ("items", lambda d: list(d.items())),
    ("copy", lambda d: d.copy()),
    ("eq", lambda d: d == DATA),
    ("ne", lambda d: d != {}),
    ("or", lambda d: d | {"x": 1}),
    ("ror", lambda d: {"x": 1} | d),
    ("setdefault existing", lambda d: d.setdefault("a", 7)),
    ("dict()", dict),
    ("json", lambda d: json.dumps(d, sort_keys=True)),
]


def fresh() -> Session:
    return Session(copy.deepcopy(DATA), session_id="sid")


@pytest.mark.parametrize(("name", "op"), MUTATIONS, ids=[n for n, _ in MUTATIONS])
def test_every_mutation_behaves_as_on_a_dict_and_marks_modified(
    name: str, op: Callable[[Any], Any]
) -> None:
    session, plain = fresh(), copy.deepcopy(DATA)
    result, expected = op(session), op(plain)
    if name == "ior":
        assert result is session
    else:
        assert result == expected
    assert dict.copy(session) == plain and list(dict.keys(session)) == list(plain)
    assert session.modified and session.accessed


@pytest.mark.parametrize(("name", "op"), READS, ids=[n for n, _ in READS])
def test_every_read_behaves_as_on_a_dict_and_marks_only_accessed(
    name: str, op: Callable[[Any], Any]
) -> None:
    session = fresh()
    assert op(session) == op(copy.deepcopy(DATA))
    assert session.accessed and not session.modified
    assert dict.copy(session) == DATA


def test_session_is_a_dict_and_json_response_takes_it() -> None:
    session = fresh()
    assert isinstance(session, dict)
    assert json.loads(bytes(JSONResponse(session).body)) == DATA
    assert json.loads(bytes(JSONResponse({"session": session}).body)) == {"session": DATA}


def test_popitem_removes_the_newest_key_like_a_dict() -> None:
    session = Session({"first": 1, "second": 2})
    session["third"] = 3
    assert session.popitem() == ("third", 3)
    assert session.popitem() == ("second", 2)
    assert list(session) == ["first"]


def test_copy_is_a_plain_dict_detached_from_the_session() -> None:
    session = fresh()
    copied = session.copy()
    assert type(copied) is dict
    copied["x"] = 1
    assert "x" not in session and not session.modified


def test_update_and_setdefault_and_ior_accept_what_dict_accepts() -> None:
    session = Session()
    session |= [("k", "v")]
    session.update({"a": 1}, b=2)
    assert session.setdefault("c") is None
    assert session == {"k": "v", "a": 1, "b": 2, "c": None}


def test_failed_operations_raise_like_a_dict_and_change_nothing() -> None:
    session = Session()
    with pytest.raises(KeyError):
        session.pop("missing")
    with pytest.raises(KeyError):
        session.popitem()
    with pytest.raises(KeyError):
        del session["missing"]
    with pytest.raises(KeyError):
        session["missing"]
    assert not session.modified


def test_pop_of_a_missing_key_on_an_empty_session_is_not_a_read() -> None:
    # A logout handler's ``session.pop("user", None)`` for a visitor without a session must
    # not add ``Vary: Cookie`` to the response.
    session = Session()
    assert session.pop("user", None) is None
    assert not session.accessed and not session.modified
    filled = Session({"a": 1})
    assert filled.pop("user", None) is None
    assert filled.accessed and not filled.modified


def test_empty_update_and_clear_of_an_empty_session_change_nothing() -> None:
    session = Session()
    session.update({})
    session.clear()
    assert not session.modified


def test_untouched_session_is_neither_accessed_nor_modified() -> None:
    session = fresh()
    assert session.id == "sid"
    repr(session)
    assert not session.accessed and not session.modified
    assert session.to_dict() == DATA and type(session.to_dict()) is dict
    assert not session.accessed


def test_flush_forgets_the_id_and_later_writes_start_over() -> None:
    session = fresh()
    session.flush()
    assert session.id is None and session.flushed_id == "sid"
    assert session == {}
    session["flash"] = "bye"
    assert session.to_dict() == {"flash": "bye"}


def test_cycle_id_keeps_the_data_unless_asked_not_to() -> None:
    kept = fresh()
    kept.cycle_id()
    assert kept.cycle_requested and kept.to_dict() == DATA
    clean = fresh()
    clean.cycle_id(keep_data=False)
    assert clean.cycle_requested and clean.to_dict() == {} and clean.modified


@pytest.mark.parametrize(("name", "op"), MUTATIONS, ids=[n for n, _ in MUTATIONS])
def test_websocket_session_takes_every_mutation_as_a_dict(
    name: str, op: Callable[[Any], Any]
) -> None:
    # As with Starlette's session: a websocket may write; the middleware never saves it.
    session = Session(copy.deepcopy(DATA), readonly=True)
    plain = copy.deepcopy(DATA)
    assert op(session) == op(plain)
    assert dict.copy(session) == plain and session.modified


def test_copy_module_and_pickle_give_plain_data() -> None:
    session = fresh()
    assert copy.copy(session) == DATA
    assert copy.deepcopy(session) == DATA


def _differing(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k, ...) != after.get(k, ...)}


@pytest.mark.parametrize(("name", "op"), MUTATIONS, ids=[n for n, _ in MUTATIONS])
def test_every_mutation_reports_exactly_the_keys_it_set_or_removed(
    name: str, op: Callable[[Any], Any]
) -> None:
    session, plain = fresh(), copy.deepcopy(DATA)
    op(session), op(plain)
    changes = session.changes()
    assert changes is not None
    changed, removed = changes
    assert set(changed) | set(removed) == _differing(DATA, plain)
    replayed = copy.deepcopy(DATA)
    for key in removed:
        del replayed[key]
    replayed.update(changed)
    assert replayed == plain
    assert not set(changed) & set(removed)


def test_a_key_set_then_removed_is_removed_and_removed_then_set_is_set() -> None:
    session = fresh()
    session["new"] = 1
    del session["new"]
    session.pop("a")
    session["a"] = 3
    assert session.changes() == ({"a": 3}, ["new"])


def test_flush_and_cycle_id_change_the_whole_session() -> None:
    for lifecycle in (Session.flush, Session.cycle_id):
        session = fresh()
        session["x"] = 1
        lifecycle(session)
        session["y"] = 2
        assert session.changes() is None


@pytest.mark.parametrize(("name", "op"), READS, ids=[n for n, _ in READS])
def test_reads_track_nothing(name: str, op: Callable[[Any], Any]) -> None:
    session = fresh()
    op(session)
    assert session._dirty is None  # a read-only request allocates nothing for the tracking
    assert session.changes() == ({}, [])
