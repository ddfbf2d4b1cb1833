"""An import writes a whole page at once (one statement or one pipeline per page, issue 28),
and still decides row by row: in one page, a row older than the target's copy is left, a
newer one replaces it, a new key is written, an expired one skipped, a key met twice written
once (its newest), and the counts say exactly that, on every store."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from session_service import SessionStoreBackend
from session_service.testing._records import new_record, past
from session_service.testing.transfer import flat, transferable


async def test_one_page_of_older_newer_new_and_expired_rows(
    backend: SessionStoreBackend,
) -> None:
    store = transferable(backend)
    made = [
        await backend.create(new_record({"user_id": f"u{i}", "n": i}, tenant_id="acme"))
        for i in range(4)
    ]
    exported = {r.user_id: r for r in await flat(store.export_sessions())}  # keys may be hashes
    for record in made[:2]:  # written on the target after the export: its copy is newer
        record.data["n"] = "target"
        await backend.save(record)
    older = [exported[r.user_id] for r in made[:2]]
    later = [
        dataclasses.replace(
            exported[r.user_id],
            data={**exported[r.user_id].data, "n": "file"},
            updated_at=exported[r.user_id].updated_at + timedelta(hours=1),
        )
        for r in made[2:]
    ]
    fresh = dataclasses.replace(later[0], key=new_record().id, handle=None)
    twice = dataclasses.replace(later[1], updated_at=later[1].updated_at - timedelta(minutes=1))
    late = dataclasses.replace(
        fresh, key=new_record().id, user_id="u9", expiry_date=past(seconds=1)
    )
    page = [older[0], later[0], twice, late, fresh, older[1], later[1]]
    assert await store.import_sessions(page) == (3, 2, 1)
    for record in made[:2]:
        loaded = await backend.load(record.id)
        assert loaded is not None and loaded.data["n"] == "target"
    for record in made[2:]:
        loaded = await backend.load(record.id)
        assert loaded is not None and loaded.data["n"] == "file"
    assert await backend.count_sessions_for_user("u2", tenant_id="acme") == 2  # and ``fresh``
    assert await backend.count_sessions_for_user("u9", tenant_id="acme") == 0
    assert await store.import_sessions(page) == (0, 5, 1)  # a second time: nothing
    assert await backend.count_sessions_for_user("u3", tenant_id="acme") == 1
