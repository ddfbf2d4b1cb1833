"""Benchmarks of session_service against the floors its backends allow (``python -m benchmarks``).

Modules: :mod:`.store_bench` (store calls next to raw asyncpg / sqlite3), :mod:`.http_bench`
(uvicorn + wrk, ours next to no middleware, Starlette's cookie sessions, starsessions and a
hand-written floor app from :mod:`.apps`), :mod:`.scale_bench` (big tables, cleanup under load,
RSS) and :mod:`.report` (the table and ``RESULTS.md``).
"""
