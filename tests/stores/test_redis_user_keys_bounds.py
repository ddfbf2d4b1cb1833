"""The memory behind one-call limited logins on Redis (session_service/stores/redis/user_keys.py)
stays bounded: at most ``2 * limit`` session keys per user and ``USERS_KEPT`` users, the
moved-away key forgotten, and only session keys (not indexes) kept from what a script asked.

Pure bookkeeping, no server: what the keys are used for is covered against a real Redis by
tests/stores/test_redis_login_one_call.py.
"""

from __future__ import annotations

import pytest

from session_service.stores.redis import user_keys
from session_service.stores.redis.user_keys import UserKeys

LIMIT = 5


def test_a_user_keeps_the_newest_keys_up_to_twice_the_limit() -> None:
    keys = UserKeys("P s:")
    for i in range(100):
        keys.learn("P u:-:alice", f"P s:{i}", f"P s:anon{i}", [f"P s:asked{i}"], LIMIT)
    kept = keys.get("P u:-:alice")
    assert len(kept) == 2 * LIMIT
    assert kept[-1] == "P s:99"  # the session just written is always declared next time


def test_the_moved_key_leaves_and_only_session_keys_join() -> None:
    keys = UserKeys("P s:")
    keys.learn("P u:-:bob", "P s:a", "P s:anon", [b"P s:x", b"P u:-:bob", "P ut:bob"], LIMIT)
    keys.learn("P u:-:bob", "P s:b", "P s:a", [], LIMIT)  # a's session moved on to b
    assert keys.get("P u:-:bob") == ["P s:x", "P s:b"]
    assert keys.get("P u:-:nobody") == []


def test_the_user_whose_login_was_longest_ago_is_forgotten_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(user_keys, "USERS_KEPT", 3)
    keys = UserKeys("P s:")
    for user in ("a", "b", "c"):
        keys.learn(f"P u:-:{user}", f"P s:{user}", "P s:anon", [], LIMIT)
    keys.learn("P u:-:a", "P s:a2", "P s:anon", [], LIMIT)  # a is now the most recent
    keys.learn("P u:-:d", "P s:d", "P s:anon", [], LIMIT)
    assert len(keys) == 3
    assert keys.get("P u:-:b") == []
    assert keys.get("P u:-:a") == ["P s:a", "P s:a2"]
