"""The documentation site builds with no warning, and what it promises about the code holds.

``mkdocs build --strict`` turns every warning into a failure: a dead link between pages, a
missing anchor, a name the API reference cannot find. The README and CONTRIBUTING.md are read
on the repository's front page rather than built, so their links are checked here by hand.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import session_service
from session_service import DefaultSessionService

# The checkout's root, wherever under tests/ this file is moved.
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
DOCS = ROOT / "docs"

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def test_the_documentation_builds_strict_with_no_warning(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    assert (tmp_path / "site" / "reference" / "index.html").is_file()


def test_every_public_name_has_a_reference_entry() -> None:
    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: session_service\.(\w+)$", reference, re.MULTILINE))
    assert documented == set(session_service.__all__)


def test_every_public_name_and_service_method_has_a_docstring() -> None:
    missing = [
        name
        for name in session_service.__all__
        if not (inspect.getdoc(getattr(session_service, name)) or "").strip()
    ]
    for name, member in vars(DefaultSessionService).items():
        function = member.fget if isinstance(member, property) else member
        if not name.startswith("_") and callable(function) and not inspect.getdoc(function):
            missing.append(f"DefaultSessionService.{name}")
    assert missing == []


def _slug(heading: str) -> str:
    """The anchor GitHub (and MkDocs' toc) gives a heading: lower case, punctuation dropped."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    body = _FENCE.sub("", markdown)
    return {_slug(m[1]) for m in re.finditer(r"^#{1,6} (.+)$", body, re.MULTILINE)}


def _dead_links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    dead = []
    for target in _LINK.findall(_FENCE.sub("", text)):
        if re.match(r"[a-z]+:", target):  # https:, mailto: — not this repository's
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        missing_anchor = (
            file.exists()
            and bool(anchor)
            and file.suffix == ".md"
            and anchor not in _anchors(file.read_text("utf-8"))
        )
        if not file.exists() or missing_anchor:
            dead.append(target)
    return dead


def test_the_front_pages_have_no_dead_internal_link() -> None:
    for page in (ROOT / "README.md", ROOT / "CONTRIBUTING.md"):
        assert _dead_links(page) == [], page.name


def test_the_link_checker_sees_a_dead_link(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A heading\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#a-heading) [web](https://example.org/x)\n"
        "[gone](missing.md) [no anchor](there.md#nowhere)\n```\n[in code](nope.md)\n```\n",
        encoding="utf-8",
    )
    assert _dead_links(page) == ["missing.md", "there.md#nowhere"]


def _variables_read_by_the_settings_code() -> set[str]:
    names: set[str] = set()
    for module in (ROOT / "session_service").rglob("*.py"):
        names |= set(re.findall(r"\"(SESSION_[A-Z_]+|DEPLOYMENT)\"", module.read_text("utf-8")))
    return names


def test_the_configuration_table_has_one_row_per_variable() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    start, end = "<!-- config-table:start -->", "<!-- config-table:end -->"
    assert page.count(start) == 1 and page.count(end) == 1
    table = page.split(start)[1].split(end)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \|", table, re.MULTILINE)
    assert sorted(rows) == sorted(set(rows)), "a variable has two rows"
    assert set(rows) == _variables_read_by_the_settings_code()
