"""``SESSION_MAX_PER_USER`` under the read cache: a login by ``rotate`` (what ``cycle_id()``
saves) that signs out the least recently used session reaches another process's cache, which
then never serves it (PostgreSQL: revision 0008's login function deletes, and revision 0006's
trigger notifies; Redis: the login script publishes)."""

from __future__ import annotations

import pytest

from session_service.records import new_session_id

from ..support.cache import Heard, record, two_processes

pytestmark = pytest.mark.stores("postgres", "redis")


async def test_an_eviction_by_a_login_reaches_the_other_process(db_url: str) -> None:
    async with two_processes(db_url, SESSION_MAX_PER_USER="1") as (a, b):
        first = await a.create(record("u1"))
        assert await b.load(first.id) is not None  # cached in b
        anonymous = await a.create(record(None, cart=1))
        heard = Heard(b)
        login = record("u1")
        login.id = new_session_id()
        assert await a.rotate(anonymous.id, login)  # signs out the first
        await heard.until(first.id)
        assert await b.load(first.id) is None
        assert await a.load(first.id) is None
        assert await b.load(login.id) is not None
