"""The demo (``make run``) serves the sessions' metrics at ``/metrics`` in Prometheus text
(docs/operations.md, "Metrics"), on every store kind, after a sign-in and a sign-out."""

from __future__ import annotations

from pathlib import Path

import httpx

from ..support.demo_server import run_demo


def test_the_demo_serves_its_metrics_in_prometheus_text(db_url: str, tmp_path: Path) -> None:
    demo = run_demo(db_url, tmp_path / "data", SESSION_METRICS_SAMPLE="1")
    with demo as url, httpx.Client(base_url=url, follow_redirects=True) as client:
        client.post("/login", data={"name": "ann", "password": "demo"})
        client.post("/logout")
        page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    lines = page.text.splitlines()
    created = [line for line in lines if line.startswith("session_service_sessions_created_total")]
    assert created and float(created[0].rsplit(" ", 1)[1]) >= 1
    assert any(line.startswith("db_client_operation_duration_seconds_bucket") for line in lines)
    assert "ann" not in page.text
