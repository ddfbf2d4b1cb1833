"""A service whose metrics go to the OpenTelemetry SDK's in-memory reader, and helpers to
read what that reader collected (points by metric name, every attribute set)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from session_service import DefaultSessionService, SessionStoreBackend

from ..support.webapp import settings_for


def metered_service(
    backend: SessionStoreBackend, db_url: str, tmp_path: Path, **env: str
) -> tuple[DefaultSessionService, InMemoryMetricReader]:
    """A service on ``backend`` timing every store call (``SESSION_METRICS_SAMPLE=1``)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    env.setdefault("SESSION_METRICS_SAMPLE", "1")
    settings = settings_for(db_url, str(tmp_path), **env)
    return DefaultSessionService(backend, settings, meter_provider=provider), reader


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Every data point collected now, by metric name."""
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def value(found: dict[str, list[Any]], name: str, **attributes: str) -> int:
    """The sum of ``name``'s points whose attributes include ``attributes``."""
    return sum(
        p.value
        for p in found.get(name, [])
        if all(p.attributes.get(k) == v for k, v in attributes.items())
    )


def durations(found: dict[str, list[Any]], operation: str) -> list[HistogramDataPoint]:
    return [
        p
        for p in found.get("db.client.operation.duration", [])
        if p.attributes.get("db.operation.name") == operation
    ]


def all_attributes(found: dict[str, list[Any]]) -> Iterator[tuple[str, str, str]]:
    """(metric, key, value) of every attribute of every point."""
    for name, data_points in found.items():
        for point in data_points:
            for key, attribute in point.attributes.items():
                yield name, key, str(attribute)
