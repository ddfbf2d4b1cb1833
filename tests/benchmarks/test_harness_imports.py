"""Every harness file under benchmarks/ is a module that imports with the code as it is now:
none is kept as text beside them (it would rot unseen, as benchmarks/notes' did: its
findings are in benchmarks/ANALYSIS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
_IMPORT_ALL = """
import importlib, pathlib, sys
failed = []
for path in sorted(pathlib.Path("benchmarks").rglob("*.py")):
    name = ".".join(path.with_suffix("").parts)
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_no_harness_is_kept_as_text() -> None:
    parked = sorted(
        str(p.relative_to(BENCHMARKS))
        for p in BENCHMARKS.rglob("*")
        if p.is_file() and any(p.name.endswith(f".{ext}.txt") for ext in ("py", "sh"))
    )
    assert parked == []


def test_every_benchmark_module_imports() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL],
        cwd=BENCHMARKS.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
