"""``python -m benchmarks.instructions --sessions N`` (the cold rows of benchmarks/ENCRYPTION.md,
"The cold path"): the requests go to the N sessions in turn, one after another, each once per
round, so that with more sessions than a memory holds every measured request misses it. The
real benchmark app over a real SQLite file, in process; nothing here asserts a count.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from benchmarks import instructions
from benchmarks.apps import build
from benchmarks.per_core import _migrate


def test_requests_go_to_every_session_in_turn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.sqlite'}"
    asyncio.run(_migrate(url))
    seen: list[bytes] = []

    async def body() -> None:
        app = build("ours-sqlite-encrypted", url, "i" * 40, "")
        async with app.router.lifespan_context(app):
            cookies = [await instructions._new_cookie(app) for _ in range(3)]
            assert len(set(cookies)) == 3

            async def recording(scope: Any, receive: Any, send: Any) -> None:
                seen.extend(v for k, v in scope["headers"] if k == b"cookie")
                await app(scope, receive, send)

            await instructions._requests(recording, "write", cookies, 7, 1)
            assert seen == [*cookies, *cookies, cookies[0]]

    asyncio.run(body())
