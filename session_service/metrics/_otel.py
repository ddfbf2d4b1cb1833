"""The OpenTelemetry instruments, registered once per meter provider; their callbacks read
the :class:`~.counts.SessionMetrics` of every service registered with that provider (an app
with two services, or a test suite with many, loses no count to a duplicate instrument).

The only module that imports OpenTelemetry, and only :func:`..metrics_for` imports it.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics as otel
from opentelemetry.metrics import CallbackOptions, Observation

from ..stores.protocol import SessionStore
from .counts import LOAD_RESULTS, SessionMetrics
from .live import LiveSessions

#: Seconds; fine at the low end, where a SQLite load (about 8 µs) and a Redis round trip
#: (about 100 µs) fall, and up to SESSION_DB_TIMEOUT_SECONDS' range.
DURATION_BUCKETS = (
    *(0.000002, 0.000004, 0.000006, 0.000008, 0.00001, 0.000015, 0.00002, 0.00003, 0.00005),
    *(0.000075, 0.0001, 0.00015, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075),
    *(0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0),
)

#: ``session_service.sessions.*`` counters, each read from the attribute of the same name.
_SESSION_COUNTERS = {
    "created": "sessions created (new sessions stored)",
    "saved": "session writes that found their session (data changed, whole or in part)",
    "rotated": "session ids rotated (a login, cycle_id)",
    "revoked": "sessions ended on purpose: a sign-out, a revocation, clearing a user or all",
    "cleaned": "expired sessions deleted by the cleanup",
}
#: Answers and refusals, read from the attributes named.
_ANSWER_COUNTERS = {
    "session_service.store_unavailable": ("unavailable", "503 answers: the store was down"),
    "session_service.rate_limited": ("rate_limited", "429 answers: a rate limit was exceeded"),
    "session_service.login_guard.refused": (
        "guard_refused",
        "login attempts the failed-login guard refused (locked or store down)",
    ),
}


def _histogram(meter: otel.Meter) -> otel.Histogram:
    """``db.client.operation.duration`` with :data:`DURATION_BUCKETS` as its advice (an API
    too old to take advice gets the SDK's default buckets; a View can set them)."""
    name, unit, text = "db.client.operation.duration", "s", "Duration of session-store calls"
    try:
        return meter.create_histogram(
            name, unit, text, explicit_bucket_boundaries_advisory=DURATION_BUCKETS
        )
    except TypeError:  # pragma: no cover - opentelemetry-api before the advisory parameter
        return meter.create_histogram(name, unit, text)


class _Instruments:
    """One provider's instruments, reading every service registered with it."""

    def __init__(self, meter: otel.Meter) -> None:
        self.services: weakref.WeakSet[SessionMetrics] = weakref.WeakSet()
        self.live: weakref.WeakKeyDictionary[SessionMetrics, LiveSessions] = (
            weakref.WeakKeyDictionary()
        )
        self.histogram = _histogram(meter)
        for name, description in _SESSION_COUNTERS.items():
            meter.create_observable_counter(
                f"session_service.sessions.{name}",
                callbacks=[self._reader(name)],
                unit="{session}",
                description=description,
            )
        meter.create_observable_counter(
            "session_service.sessions.loaded",
            callbacks=[self._loads],
            unit="{session}",
            description="session loads, by result (hit, miss, expired, invalid, cache_hit)",
        )
        for name, (attribute, description) in _ANSWER_COUNTERS.items():
            meter.create_observable_counter(
                name, callbacks=[self._reader(attribute)], unit="{answer}", description=description
            )
        meter.create_observable_gauge(
            "session_service.sessions.live",
            callbacks=[self._live],
            unit="{session}",
            description="live sessions in the store (counted at most once a minute)",
        )

    def _reader(self, attribute: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            totals: Counter[str] = Counter()
            for metrics in list(self.services):
                totals[metrics.system] += getattr(metrics, attribute)
            return [Observation(n, {"db.system.name": s}) for s, n in totals.items()]

        return observe

    def _loads(self, options: CallbackOptions) -> Iterable[Observation]:
        totals: Counter[tuple[str, str]] = Counter()
        for metrics in list(self.services):
            for result in LOAD_RESULTS:
                totals[metrics.system, result] += getattr(metrics, result)
        return [Observation(n, {"db.system.name": s, "result": r}) for (s, r), n in totals.items()]

    def _live(self, options: CallbackOptions) -> Iterable[Observation]:
        totals: Counter[str] = Counter()
        for metrics, live in list(self.live.items()):
            value = live.read()
            if value is not None:
                totals[metrics.system] += value
        return [Observation(n, {"db.system.name": s}) for s, n in totals.items()]


#: One set of instruments per meter provider.
_registry: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()


def register(
    metrics: SessionMetrics,
    store: SessionStore,
    meter_provider: Any,
    clock: Callable[[], float] | None,
) -> LiveSessions:
    """Have ``meter_provider``'s instruments (``None``: the global provider's) read
    ``metrics``, and ``metrics.record`` time into its histogram; returns the live gauge's
    state for the service to start."""
    provider = otel.get_meter_provider() if meter_provider is None else meter_provider
    instruments = _registry.get(provider)
    if instruments is None:
        from .._version import __version__

        instruments = _Instruments(provider.get_meter("session_service", __version__))
        _registry[provider] = instruments
    instruments.services.add(metrics)
    live = LiveSessions(store, clock)
    instruments.live[metrics] = live
    metrics.record = instruments.histogram.record
    metrics.live = live
    return live
