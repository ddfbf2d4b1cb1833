"""Metrics of the sessions, through the OpenTelemetry API (the ``otel`` extra).

What is counted (docs/operations.md, "Metrics"): the store calls' durations
(``db.client.operation.duration``) and the ``session_service.*`` counters: sessions created,
loaded (by ``result``), saved, rotated, revoked and cleaned up, the 503 and 429 answers, the
login-guard refusals, and a gauge of the live sessions.

The hot path never calls OpenTelemetry. A count is a plain integer on a
:class:`SessionMetrics` (``metrics.created += 1``), read by the observable instruments'
callbacks when a reader collects; a store call is timed for a sample of calls only
(``SESSION_METRICS_SAMPLE``), and the ones not drawn return the store's own coroutine
untouched, so no call gains a coroutine. With ``SESSION_METRICS=false``, or without the
``otel`` extra, a service has no metrics object and each hook costs one ``is not None``.

Nothing here imports OpenTelemetry: :mod:`._otel` does, and only :func:`metrics_for` imports
it, once the API is known to be installed.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from .counts import LOAD_RESULTS, SessionMetrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..settings import SessionSettings
    from ..stores.protocol import SessionStore

__all__ = ["LOAD_RESULTS", "SessionMetrics", "metrics_for", "otel_installed"]


def otel_installed() -> bool:
    """Whether the OpenTelemetry API (the ``otel`` extra) can be imported (nothing imported)."""
    try:
        return importlib.util.find_spec("opentelemetry.metrics") is not None
    except (ImportError, ValueError):  # no ``opentelemetry`` package, or a broken one
        return False


def metrics_for(
    store: SessionStore,
    settings: SessionSettings,
    meter_provider: Any = None,
    clock: Callable[[], float] | None = None,
) -> SessionMetrics | None:
    """The metrics of a service on ``store`` (given to the store too, when it builds on
    :class:`~..stores.base.SessionStoreBase`), its instruments registered with
    ``meter_provider`` (``None``: OpenTelemetry's global one, which may be set later: the API
    forwards to it); ``None`` with ``SESSION_METRICS=false`` or without the ``otel`` extra.

    ``clock`` (seconds) paces the live-sessions gauge: the store is counted at most once a
    minute of it."""
    if not settings.metrics or not otel_installed():
        return None
    from ._otel import register  # the one place OpenTelemetry is imported

    # A read cache (``session_service.cache``) counts its hits; the store behind it, its
    # ``inner``, counts everything else under its own ``db.system.name``.
    inner: SessionStore = getattr(store, "inner", store)
    metrics = SessionMetrics(_system_name(inner), settings.metrics_sample)
    register(metrics, store, meter_provider, clock)
    for counted in (store, inner):
        if hasattr(counted, "_metrics"):
            counted._metrics = metrics
    return metrics


def _system_name(store: SessionStore) -> str:
    """``db.system.name``: the store's own ``db_system_name`` (PostgreSQL's is
    ``postgresql``), else its kind (``sqlite``, ``redis``, ``memory``, a store of your own's)."""
    return str(getattr(store, "db_system_name", store.kind))
