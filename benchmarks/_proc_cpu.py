"""A process's CPU time (user + system) from ``/proc/PID/stat``, for CPU time per request.

Requests per second on a core shared with other processes move with whatever else runs there;
the CPU time the app's process itself spent over a run, divided by the requests it answered,
moves much less (issue 27): it is what a request costs, not what the core had left to give.
Linux only; the clock ticks (usually 100 a second) bound its resolution, so a run should be
long enough for hundreds of them.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def parse_stat_cpu(text: str, ticks_per_second: int = _TICKS) -> float:
    """Seconds of ``utime + stime`` in a ``/proc/PID/stat`` line. The command name (field 2)
    is in parentheses and may itself hold spaces and ``)``, so fields are counted after the
    last ``)``: state is then field 3, utime field 14, stime field 15."""
    rest = text[text.rindex(")") + 2 :].split()
    utime, stime = int(rest[11]), int(rest[12])
    return (utime + stime) / ticks_per_second


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (its own threads included; children
    not)."""
    return parse_stat_cpu(Path(f"/proc/{pid}/stat").read_text())


def per_request_us(cpu_before: float, cpu_after: float, requests: int) -> float:
    """Microseconds of CPU per request over one run (``nan`` when nothing was answered)."""
    if requests <= 0:
        return float("nan")
    return (cpu_after - cpu_before) / requests * 1e6
