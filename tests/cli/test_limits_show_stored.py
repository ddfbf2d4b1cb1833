"""``session-service limits show KEY`` without ``--limit``/``--window`` (issue 24): the store
kept the numbers of the key's latest allowed hit, so the state is shown with them; a key
logged before they were kept says so and asks for the flags."""

from __future__ import annotations

import json

import pytest

from session_service import SessionStoreBackend
from session_service.limits import RateLimiter, storage_for

from ..limits.test_limit_params import forget_params
from .test_cli import Cli, cli, ok, seed, with_store

__all__ = ["cli"]

pytestmark = pytest.mark.stores("sqlite", "postgres", "redis")


def hit(db_url: str, key: str, times: int, limit: int, window: float) -> None:
    async def work(b: SessionStoreBackend) -> None:
        for _ in range(times):
            await RateLimiter(storage_for(b.store)).hit(key, limit=limit, window=window)

    with_store(db_url, work)


def test_show_uses_the_numbers_the_app_passed(cli: Cli, db_url: str) -> None:
    seed(db_url)
    hit(db_url, "api:bob", 2, 5, 60)
    text = ok(cli("limits", "show", "api:bob"))
    assert text.startswith("api:bob: allowed, 3 of 5 left"), text
    assert "limit 5 per 60 s" in text
    doc = json.loads(ok(cli("limits", "show", "api:bob", "--json")))
    assert doc["limit"] == 5 and doc["window"] == 60 and doc["remaining"] == 3
    assert doc["numbers"] == "stored" and doc["allowed"] is True
    hit(db_url, "api:bob", 5, 5, 60)  # three more allowed, two refused
    doc = json.loads(ok(cli("limits", "show", "api:bob", "--json")))
    assert doc["allowed"] is False and doc["remaining"] == 0 and doc["retry_after"] > 0
    given = json.loads(ok(cli("limits", "show", "api:bob", "--limit", "10", "--window", "60",
                              "--json")))  # fmt: skip
    assert given["numbers"] == "given" and given["remaining"] == 5


def test_show_of_a_key_logged_before_the_numbers_were_kept_says_so(cli: Cli, db_url: str) -> None:
    seed(db_url)
    hit(db_url, "api:old", 2, 5, 60)

    async def forget(b: SessionStoreBackend) -> None:
        await forget_params(b, "api:old")

    with_store(db_url, forget)
    text = ok(cli("limits", "show", "api:old"))
    assert text.startswith("api:old: 2 hits logged, the newest"), text
    assert "an older version" in text and "--limit N --window S" in text
    doc = json.loads(ok(cli("limits", "show", "api:old", "--json")))
    assert doc["logged_hits"] == 2 and doc["limit"] is None
    nobody = json.loads(ok(cli("limits", "show", "api:nobody", "--json")))
    assert nobody["logged_hits"] == 0 and nobody["limit"] is None
