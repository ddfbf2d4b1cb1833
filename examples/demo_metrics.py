"""The demo's metrics (docs/operations.md, "Metrics"): the OpenTelemetry SDK as the global
meter provider, exporting through its Prometheus exporter, served at ``/metrics`` in
Prometheus text. Without the exporter installed, the SDK's console exporter prints them once
a minute instead (and ``/metrics`` says so); without the SDK, there are none.

Imported by ``examples/demo.py`` before its service is made.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

try:
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
except ImportError:  # no SDK: the service counts nothing anyone reads
    EXPORTER = "none"
else:
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
    except ImportError:
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            PeriodicExportingMetricReader,
        )

        EXPORTER = "console"
        _reader: object = PeriodicExportingMetricReader(ConsoleMetricExporter())
    else:
        EXPORTER = "prometheus"
        _reader = PrometheusMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[_reader]))  # type: ignore[list-item]


async def metrics_page(request: Request) -> Response:
    """``/metrics``: Prometheus text (the exporter's registry), for a scrape or a look."""
    if EXPORTER != "prometheus":
        why = "printed on the console once a minute" if EXPORTER == "console" else "not enabled"
        return PlainTextResponse(f"metrics are {why} (install the demo extra)\n", status_code=404)
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
