from session_service import SessionStoreBackend


async def test_backend_fixture_is_migrated_and_empty(backend: SessionStoreBackend) -> None:
    assert (await backend.stats()).total == 0
