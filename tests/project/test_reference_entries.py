"""Every class the API reference renders (``::: module.Name`` in ``docs/reference.md``), not
only those of ``session_service.__all__``, documents every public member: what
``service.limits``, ``service.counters`` and ``service.login_guard(...)`` return is read there
too, and a member without a docstring is a bare signature on the page."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from .test_docs_coverage import _undocumented

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def _rendered() -> dict[str, object]:
    page = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    found = {}
    for path in re.findall(r"^::: ([\w.]+)$", page, re.MULTILINE):
        module, _, name = path.rpartition(".")
        found[path] = getattr(importlib.import_module(module), name)
    return found


def test_the_reference_renders_what_the_limits_api_returns() -> None:
    rendered = _rendered()
    for name in ("RateLimiter", "RateLimitResult", "Counters", "CounterResult", "LoginGuard",
                 "LoginDecision"):  # fmt: skip
        assert f"session_service.limits.{name}" in rendered, name


def test_every_rendered_class_documents_its_public_members() -> None:
    classes = [obj for obj in _rendered().values() if inspect.isclass(obj)]
    assert len(classes) > 20  # the page was read
    missing = [m for cls in classes for m in _undocumented(cls)]
    assert missing == []
