"""Every Python block of the README and of every docs page runs as written.

The blocks of one page run in order in one namespace, as a reader types them into one file,
in a fresh process whose working directory is empty and whose environment holds no
``SESSION_*`` variable: the embedded default (SQLite in ``./.session-data``) is what they get.
A page with no Python block is fine; the README and getting-started must keep theirs.
A block may be marked ``<!-- snippet: skip (why) -->`` on the line before its fence only when it
cannot run by nature (it needs a server, or shows a diff); the reason must be given.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# The checkout's root, wherever under tests/ this file is moved.
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The pages a newcomer reads first: each must keep Python blocks for the test to run.
FRONT_PAGES = [ROOT / "README.md", ROOT / "docs" / "getting-started.md"]

_BLOCK = re.compile(
    r"^(?P<mark><!-- snippet: skip \((?P<why>[^)]+)\) -->\n)?"
    r"```(?P<lang>[\w+-]*)\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)

# Runs the blocks it is given (a JSON list of [line, code]) in one namespace; on the first
# failure prints the line of the block's fence and the traceback, and exits 1.
_RUNNER = """
import json, sys, traceback
namespace = {"__name__": "__main__"}
for line, code in json.load(open(sys.argv[1], encoding="utf-8")):
    try:
        exec(compile(code, f"{sys.argv[2]}:{line}", "exec"), namespace)
    except BaseException:
        print(f"the block at {sys.argv[2]} line {line} failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


def python_blocks(text: str) -> tuple[list[tuple[int, str]], list[str]]:
    """The page's runnable Python blocks (line of the fence, code), and the skip reasons."""
    runnable, skipped = [], []
    for match in _BLOCK.finditer(text):
        if match["lang"] not in ("python", "py"):
            continue
        line = text.count("\n", 0, match.start("lang")) + 1
        if match["mark"]:
            skipped.append(match["why"])
        else:
            runnable.append((line, match["code"]))
    return runnable, skipped


def test_the_extractor_finds_blocks_and_skips_only_marked_ones() -> None:
    page = (
        "text\n```python\nx = 1\n```\n"
        "<!-- snippet: skip (needs a server) -->\n```python\nimport nowhere\n```\n"
        "```sh\nmake run\n```\n"
    )
    assert python_blocks(page) == ([(2, "x = 1\n")], ["needs a server"])


_ANY_FENCE = re.compile(r"^[ \t>]*(```|~~~)", re.MULTILINE)


def unread_fences(text: str) -> list[int]:
    """Lines of the fences the extractor does not read: an indented block (in a list or an
    admonition), a ``~~~`` one, one with a title after its language. Such a Python block would
    silently never run; every fence of the page must be a block's opening or closing line."""
    read = set()
    for match in _BLOCK.finditer(text):
        read.add(text.count("\n", 0, match.start("lang")) + 1)
        read.add(text.count("\n", 0, match.end()) + 1)
    return [
        text.count("\n", 0, m.start()) + 1
        for m in _ANY_FENCE.finditer(text)
        if text.count("\n", 0, m.start()) + 1 not in read
    ]


def test_the_fence_check_sees_blocks_the_extractor_would_miss() -> None:
    page = (
        "```python\nx = 1\n```\n"
        "- a list\n\n    ```python\n    import nowhere\n    ```\n"
        '```python title="app.py"\nimport nowhere\n```\n'
        "~~~python\nimport nowhere\n~~~\n"
    )
    assert unread_fences(page) == [6, 8, 9, 11, 12, 14]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_block_of_the_page_is_one_the_extractor_reads(page: Path) -> None:
    assert unread_fences(page.read_text(encoding="utf-8")) == [], (
        f"{page.name}: a fenced block the snippet test cannot read (put its fence at the start "
        "of a line, ``` and the language alone)"
    )


def _pages_with_python() -> list[Path]:
    return [p for p in PAGES if python_blocks(p.read_text(encoding="utf-8"))[0]]


def test_the_pages_a_newcomer_reads_first_have_python_blocks() -> None:
    missing = [p.name for p in FRONT_PAGES if p not in _pages_with_python()]
    assert missing == [], f"no runnable Python block on {missing}"


@pytest.mark.parametrize("page", _pages_with_python(), ids=lambda p: p.name)
def test_every_python_block_runs_as_written(page: Path, tmp_path: Path) -> None:
    runnable, _ = python_blocks(page.read_text(encoding="utf-8"))
    blocks = tmp_path / "blocks.json"
    blocks.write_text(json.dumps(runnable), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
    env.pop("DEPLOYMENT", None)
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(blocks), page.name],
        cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
