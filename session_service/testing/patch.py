"""``patch``, the write of only the keys a request changed: it sets and removes exactly its
keys, keeps every other stored value as it was (empty lists, large integers, floats that need
17 digits, strings full of JSON syntax), takes any key a dict can hold, keeps the ``user_id``
index in step, holds ``SESSION_MAX_BYTES`` for the merged result, moves the expiry only when
asked, and never brings back a session that is gone."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest

from ..backend import SessionStoreBackend
from ..errors import SessionDataError
from ..records import utcnow
from ._harness import ContractCase
from ._records import data_of, new_record, past

#: Values another request's patch must leave exactly as they were.
EXACT: dict[str, Any] = {
    "empty_list": [],
    "empty_obj": {},
    "big": 2**70,
    "neg": -(2**63),
    "float": 0.1 + 0.2,
    "tiny": 5e-324,
    "one_point_o": 1.0,
    "syntax": '{"a": [1, "]"], "b": "\\"}"} , : [ ] { }',
    "nested": [{"a": [[], {}, [{"b": None}]]}, "x\\", '"', True, False, None],
    "unicode": "é😀\u2028\x01\n\t",
}

#: Keys full of JSON, path and glob syntax: each is a key like any other.
HOSTILE_KEYS = [
    'a"b',
    '"',
    "\\",
    "a\\b",
    "x.y",
    "p[0]",
    "[",
    "]",
    "$",
    "$.a",
    "*",
    "'q'",
    "",
    " ",
    "é😀",
    "\x01\n\t",
    "a\u2028b",
    "key with spaces",
    "{}",
    ":",
    ",",
    "user_id ",
]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    atoms: list[Any] = [None, True, False, 0, -1, 2**64, 0.1 + 0.2, 1.0, -2.5e-300, "", ']}",']
    atoms += ["\\", '"', "{", "[1, 2]", "é😀\u2028", "\x1f\t"]
    roll = rng.random()
    if depth < 3 and roll < 0.2:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if depth < 3 and roll < 0.4:
        return {rng.choice(HOSTILE_KEYS): _random_value(rng, depth + 1) for _ in range(3)}
    return rng.choice(atoms)


def _after(days: float) -> Any:
    return utcnow() + timedelta(days)


class PatchRules(ContractCase):
    """``patch(session_id, changed, removed)`` as a dict update would do it, atomically."""

    async def test_patch_sets_and_removes_only_its_keys_and_keeps_the_rest_exactly(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({**EXACT, "a": 1, "gone": "soon"})
        await backend.save(record)
        assert await backend.patch(record.id, {"a": 2, "new": [1, {"k": []}]}, ["gone", "missing"])
        assert await data_of(backend, record.id) == {**EXACT, "a": 2, "new": [1, {"k": []}]}
        assert await backend.patch(record.id, {}, [])  # nothing to change: still says "alive"
        assert await data_of(backend, record.id) == {**EXACT, "a": 2, "new": [1, {"k": []}]}

    async def test_patch_changes_every_kind_of_value_exactly(
        self, backend: SessionStoreBackend
    ) -> None:
        record = new_record({"keep": 1})
        await backend.save(record)
        assert await backend.patch(record.id, EXACT, [])
        assert await data_of(backend, record.id) == {"keep": 1, **EXACT}
        assert await backend.patch(record.id, {k: None for k in EXACT}, [])  # null is a value
        assert await data_of(backend, record.id) == {"keep": 1, **{k: None for k in EXACT}}

    async def test_hostile_keys_are_set_replaced_and_removed_like_dict_keys(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({k: f"old {k}" for k in HOSTILE_KEYS[::2]})
        await backend.save(record)
        expected = dict(record.data)
        new = {k: {"v": k, "list": []} for k in HOSTILE_KEYS}
        assert await backend.patch(record.id, new, [])
        expected.update(new)
        assert await data_of(backend, record.id) == expected
        removed = HOSTILE_KEYS[1::2]
        assert await backend.patch(record.id, {}, removed)
        for key in removed:
            del expected[key]
        assert await data_of(backend, record.id) == expected
        # One at a time too: the statement each key gets on its own.
        for key in HOSTILE_KEYS:
            assert await backend.patch(record.id, {key: 7}, [])
            expected[key] = 7
            assert await data_of(backend, record.id) == expected, repr(key)
            assert await backend.patch(record.id, {}, [key])
            del expected[key]
            assert await data_of(backend, record.id) == expected, repr(key)

    async def test_a_patch_of_hundreds_of_keys_lands_whole(
        self, backend: SessionStoreBackend
    ) -> None:
        record = new_record({f"old{i}": i for i in range(300)})
        await backend.save(record)
        changed = {f"new{i}": [i] for i in range(300)}
        assert await backend.patch(record.id, changed, [f"old{i}" for i in range(250)])
        assert await data_of(backend, record.id) == {
            **{f"old{i}": i for i in range(250, 300)},
            **changed,
        }

    async def test_a_key_both_set_and_removed_is_set(self, backend: SessionStoreBackend) -> None:
        record = new_record({"a": 1})
        await backend.save(record)
        assert await backend.patch(record.id, {"a": 2}, ["a"])
        assert await data_of(backend, record.id) == {"a": 2}

    @pytest.mark.parametrize("how", ["deleted", "cleared by user", "expired", "never existed"])
    async def test_patch_never_brings_back_a_session_that_is_gone(
        self, backend: SessionStoreBackend, how: str
    ) -> None:
        record = new_record(
            {"user_id": "alice", "a": 1}, expiry_date=past(hours=1) if how == "expired" else None
        )
        if how != "never existed":
            await backend.save(record)
        if how == "deleted":
            await backend.delete(record.id)
        elif how == "cleared by user":
            assert await backend.clear_sessions_for_user("alice") == 1
        assert await backend.patch(record.id, {"b": 2}, ["a"]) is False
        assert (
            await backend.patch(record.id, {"b": 2}, [], expiry_date=utcnow() + timedelta(1))
            is False
        )
        assert await backend.load(record.id) is None
        assert await backend.count_sessions_for_user("alice") == 0
        assert (await backend.stats()).live == 0

    async def test_user_id_set_changed_or_removed_by_patch_keeps_clear_by_user_exact(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"cart": [1]})
        other = new_record({"user_id": "alice"})
        await backend.save(record)
        await backend.save(other)
        assert await backend.patch(record.id, {"user_id": "alice"}, [])
        assert sorted(await backend.get_session_ids_for_user("alice")) == sorted(
            [record.handle or "", other.handle or ""]
        )
        assert await backend.patch(record.id, {"user_id": 42}, [])
        assert await backend.get_session_ids_for_user("alice") == [other.handle]
        assert await backend.get_session_ids_for_user("42") == [record.handle]
        assert await backend.patch(record.id, {"x": 1}, [])  # user untouched: stays bound
        assert await backend.count_sessions_for_user(42) == 1
        assert await backend.patch(record.id, {}, ["user_id"])
        assert await backend.count_sessions_for_user(42) == 0
        assert await backend.patch(record.id, {"user_id": "bob"}, [])
        assert await backend.patch(record.id, {"user_id": None}, [])  # None unbinds, as in save
        assert await backend.count_sessions_for_user("bob") == 0
        assert await backend.patch(record.id, {"user_id": "carol"}, [])
        assert await backend.clear_sessions_for_user("carol") == 1
        assert await backend.load(record.id) is None
        assert await backend.get_session_ids_for_user("alice") == [other.handle]

    async def test_bad_user_id_or_value_fails_naming_it_and_writes_nothing(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"a": 1})
        await backend.save(record)
        with pytest.raises(SessionDataError, match="user_id"):
            await backend.patch(record.id, {"user_id": ["alice"]}, [])
        with pytest.raises(SessionDataError, match="when"):
            await backend.patch(record.id, {"ok": 1, "when": {1, 2}}, ["a"])
        with pytest.raises(SessionDataError, match="NUL"):
            await backend.patch(record.id, {"nul": "a\x00b"}, [])
        with pytest.raises(SessionDataError, match=r"nan.*JSON"):
            await backend.patch(record.id, {"nan": float("nan")}, [])
        with pytest.raises(SessionDataError, match="strings"):
            await backend.patch(record.id, {1: "x"}, [])  # type: ignore[dict-item]
        assert await data_of(backend, record.id) == {"a": 1}

    async def test_max_bytes_holds_for_the_merged_session(
        self, backend: SessionStoreBackend
    ) -> None:
        backend.max_bytes = 1024
        record = new_record({"one": "x" * 600})
        await backend.save(record)
        with pytest.raises(SessionDataError, match="SESSION_MAX_BYTES"):
            await backend.patch(record.id, {"two": "y" * 600}, [])
        assert await data_of(backend, record.id) == {"one": "x" * 600}
        # Removing in the same patch makes room: the limit is on the result.
        assert await backend.patch(record.id, {"two": "y" * 600}, ["one"])
        assert await data_of(backend, record.id) == {"two": "y" * 600}

    async def test_max_bytes_is_exact_at_the_boundary(self, backend: SessionStoreBackend) -> None:
        backend.max_bytes = 1024
        record = new_record({"a": [1, 2, 3], "b": {"c": 1.5}})
        await backend.save(record)
        base = len('{"a":[1,2,3],"b":{"c":1.5},"s":""}')
        assert await backend.patch(record.id, {"s": "z" * (1024 - base)}, [])  # exactly the limit
        with pytest.raises(SessionDataError, match=r"1,?025 bytes"):
            await backend.patch(record.id, {"s": "z" * (1025 - base)}, [])
        stored = await data_of(backend, record.id)
        assert stored is not None and len(stored["s"]) == 1024 - base

    async def test_expiry_moves_only_when_asked(self, backend: SessionStoreBackend) -> None:
        record = new_record({"a": 1})
        await backend.save(record)
        before = await backend.load(record.id)
        assert before is not None
        assert await backend.patch(record.id, {"b": 2}, [])
        kept = await backend.load(record.id)
        assert kept is not None and abs(kept.expiry_date - before.expiry_date) < timedelta(
            seconds=1
        )
        later = utcnow() + timedelta(days=3)
        assert await backend.patch(record.id, {"c": 3}, [], expiry_date=later)
        moved = await backend.load(record.id)
        assert moved is not None and abs(moved.expiry_date - later) < timedelta(seconds=1)
        assert moved.data == {"a": 1, "b": 2, "c": 3}

    async def test_patch_keeps_the_tenant(self, backend: SessionStoreBackend) -> None:
        record = new_record({"user_id": "alice"})
        record.tenant_id = "acme"
        await backend.save(record)
        assert await backend.patch(record.id, {"user_id": "bob"}, [])
        assert await backend.get_session_ids_for_user("bob", tenant_id="acme") == [record.handle]
        assert await backend.clear_sessions_for_user("bob", tenant_id="globex") == 0
        assert await backend.clear_sessions_for_user("alice") == 0
        loaded = await backend.load(record.id)
        assert loaded is not None and loaded.tenant_id == "acme"

    async def test_concurrent_patches_of_different_keys_all_land(
        self, backend: SessionStoreBackend
    ) -> None:
        """Two instances (see ``make_second_store``), plain keys and keys with JSON syntax."""
        record = new_record({"keep": True, "drop": 0})
        await backend.save(record)
        other = await self.second_instance(backend)
        keys = [f"k{i}" if i % 2 else f'k"{i}' for i in range(60)]
        await asyncio.gather(
            *((backend, other)[i % 2].patch(record.id, {k: i}, ["drop"] if i == 7 else [])
              for i, k in enumerate(keys))
        )  # fmt: skip
        assert await data_of(backend, record.id) == {
            "keep": True,
            **{k: i for i, k in enumerate(keys)},
        }

    async def test_random_patches_match_a_dict_model(self, backend: SessionStoreBackend) -> None:
        """Seeded random rounds: stored data of every shape, hostile keys, random sets and
        removals; after each patch the store holds exactly what a dict would."""
        rng = random.Random(1214)
        keys = HOSTILE_KEYS + [f"k{i}" for i in range(10)]
        model = {k: _random_value(rng) for k in rng.sample(keys, 12)}
        record = new_record(dict(model))
        await backend.save(record)
        for i in range(60):
            changed = {k: _random_value(rng) for k in rng.sample(keys, rng.randrange(4))}
            removed = rng.sample(keys, rng.randrange(4))
            assert await backend.patch(record.id, changed, removed)
            for key in removed:
                model.pop(key, None)
            model.update(changed)
            assert await data_of(backend, record.id) == model, f"round {i}"
