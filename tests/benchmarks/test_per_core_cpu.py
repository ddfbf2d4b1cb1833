"""The per-core harness's CPU time per request (issue 27): read from ``/proc/PID/stat``,
divided by wrk's request count, shown beside each rate, and its ratio beside the rps ratio."""

from __future__ import annotations

import os
import sys

import pytest

from benchmarks._proc_cpu import cpu_seconds, parse_stat_cpu, per_request_us
from benchmarks.per_core import PerCoreConfig, Run, per_core_section

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")


def _stat_line(comm: str, utime: int, stime: int) -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
    # stime cutime cstime ...
    fields = ["S", "1", "1", "1", "0", "-1", "4194560", "10", "0", "0", "0"]
    fields += [str(utime), str(stime), "77", "88", "20", "0", "1", "0", "12345"]
    return f"4242 ({comm}) {' '.join(fields)}\n"


def test_parse_counts_utime_and_stime_only() -> None:
    assert parse_stat_cpu(_stat_line("python", 250, 50), 100) == 3.0  # not cutime/cstime


def test_parse_survives_a_command_name_with_spaces_and_parentheses() -> None:
    assert parse_stat_cpu(_stat_line("we) ird (1 2", 7, 3), 10) == 1.0


def test_reads_this_process_like_os_times() -> None:
    sum(i * i for i in range(200_000))  # some CPU of our own to read
    t = os.times()
    ours = cpu_seconds(os.getpid())
    assert ours > 0
    # the same clock ticks, read a few microseconds apart (two ticks of slack)
    assert abs(ours - (t.user + t.system)) <= 2 / os.sysconf("SC_CLK_TCK")


def test_per_request_is_microseconds_and_nan_without_requests() -> None:
    assert per_request_us(1.0, 1.5, 2000) == pytest.approx(250.0)
    assert per_request_us(1.0, 1.0, 0) != per_request_us(1.0, 1.0, 0)  # nan


def _results() -> dict[tuple[str, str], list[Run]]:
    # cookie: 200 us a read, 300 a write; ours: 250 / 400 (so ref ÷ ours 0.80 / 0.75)
    return {
        ("cookie", "read"): [Run(5000, 200), Run(4000, 200), Run(4500, 200)],
        ("cookie", "write"): [Run(3000, 300), Run(3000, 300), Run(3000, 300)],
        ("ours-sqlite", "read"): [Run(4500, 250), Run(4000, 250), Run(4500, 250)],
        ("ours-sqlite", "write"): [Run(2400, 400), Run(2100, 400), Run(2250, 400)],
    }


def test_section_shows_cpu_per_request_beside_the_rates() -> None:
    section = per_core_section(
        PerCoreConfig(rounds=3), ["cookie", "ours-sqlite"], _results(), False, False
    )
    table = section.tables[0]
    assert table.headers == ["variant", "read rps", "write rps", "read CPU µs/req",
                             "write CPU µs/req"]  # fmt: skip
    assert table.rows == [
        ["cookie", "4,500", "3,000", "200.0", "300.0"],
        ["ours-sqlite", "4,500", "2,250", "250.0", "400.0"],
    ]


def test_cpu_ratio_is_reference_over_ours_and_the_targets_stay() -> None:
    section = per_core_section(
        PerCoreConfig(rounds=3), ["cookie", "ours-sqlite"], _results(), False, False
    )
    ratios = section.tables[1].rows
    assert [r[:4] for r in ratios] == [
        ["ours-on-SQLite / Starlette cookie", "read", "1.00x", "0.80x"],
        ["ours-on-SQLite / Starlette cookie", "write", "0.75x", "0.75x"],
    ]
    read, write = section.targets
    assert (read.name, read.limit, read.ratio) == (
        "HTTP read rps per core: ours-on-SQLite / Starlette cookie", 0.95, 1.0)  # fmt: skip
    assert (write.limit, write.ratio) == (0.75, 0.75)
    assert "CPU/req ref ÷ ours 0.80x" in read.detail
