"""``python -m benchmarks.encryption_http --sessions N`` (issue 25's cold rows): every request
of a wrk run carries another of the N sessions, each request is answered 2xx (a lost or
refused cookie fails the run), and the writes land on every session, not on one. A real
uvicorn server on a real SQLite file; nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from benchmarks import encryption_http
from benchmarks.per_core import _migrate


def _count_written(url: str) -> list[int]:
    """Every session's ``n`` (how many writes it took), read back through the store."""
    from session_service import SessionStoreBackend

    async def body() -> list[int]:
        backend = await SessionStoreBackend.connect(url)
        try:
            return [int(r.data.get("n", 0)) for r in await backend.dump_all_sessions()]
        finally:
            await backend.close()

    return asyncio.run(body())


def test_every_session_of_the_file_is_used(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'many.sqlite'}"
    asyncio.run(_migrate(url))
    specs = {"sqlite-off": ("ours-sqlite", url)}
    rps = encryption_http.many_rounds(specs, 1, 1, 40, tmp_path)
    assert set(rps) == {("sqlite-off", "read"), ("sqlite-off", "write")}
    assert all(v[0] > 0 for v in rps.values())
    cookies = (tmp_path / "sqlite-off.cookies").read_text().split()
    assert len(set(cookies)) == 40  # forty distinct sessions, one per line
    written = _count_written(url)
    # the 40 of the file and the one ``start_server`` made for itself (its one write)
    assert len(written) == 41
    # every session of the file took its first write and more: the runs spread over all 40
    assert sorted(written)[1] >= 2, written
