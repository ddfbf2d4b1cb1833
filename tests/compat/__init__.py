"""Compatibility suite: the behaviour cases of Starlette's, starsessions' and Django's session
tests, ported to ``SessionMiddleware`` and run over every store kind, with and without
``with TestClient(app)`` (a fresh event loop per request)."""
