"""``SESSION_MAX_PER_USER`` through a transaction pooler (PgBouncer in ``pool_mode =
transaction``): the per-user lock is transaction-scoped, so racing logins from two app
instances still leave exactly the limit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from session_service import SessionRecord
from session_service.records import new_session_id, utcnow

from ..support.pooler import limited_instances
from .test_pooler import pgbouncer, pooled  # noqa: F401  (fixtures)

LIMIT = 5


async def test_racing_logins_through_the_pooler_leave_the_limit(
    pooled: tuple[str, str],  # noqa: F811  (the fixture imported above)
) -> None:
    async with limited_instances(pooled, LIMIT) as instances:

        async def login(i: int) -> str:
            record = SessionRecord(
                new_session_id(), {"user_id": "alice", "i": i}, utcnow() + timedelta(hours=1)
            )
            return (await instances[i % 2].create(record)).id

        for _ in range(3):
            ids = await asyncio.gather(*(login(i) for i in range(LIMIT + 10)))
            listed = await instances[0].list_sessions_for_user("alice")
            left = [ids[r.data["i"]] for r in listed]  # listings name no ids: by the data
            assert len(left) == LIMIT and set(left) <= set(ids)
