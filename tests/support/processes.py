"""Run several Python processes "at the same moment", for multi-process race tests.

Each child prints ``ready`` once it has imported everything (and done any set-up), then waits
for a line on stdin; the parent releases them all only when every one is ready, so the race
starts together without sleeping.
"""

from __future__ import annotations

import subprocess
import sys


def run_together(code: str, args_per_process: list[list[str]]) -> list[tuple[int, str, str]]:
    """Start one ``python -c code`` per argument list, release them at once when all say
    "ready"; returns (exit code, stdout, stderr) of each."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in args_per_process
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                _, err = proc.communicate(timeout=60)
                raise AssertionError(f"child failed before the race: {line!r} {err}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            results.append((proc.returncode, out, err))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
