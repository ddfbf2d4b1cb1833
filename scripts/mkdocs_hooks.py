"""MkDocs hooks for the documentation site (``hooks:`` in mkdocs.yml).

The package's docstrings use Sphinx's cross-reference roles (``:class:`SessionSettings```,
``:meth:`~.Session.flush```), which mkdocstrings renders as literal text ("a :class:" before
the name). The reference page shows them as the code they name instead: the role is dropped,
and a ``~``-shortened path keeps only its last part, as Sphinx shows it.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|attr|mod|exc|data|obj|const):<code>(~?)([^<]*)</code>")


def _shown(match: re.Match[str]) -> str:
    target = match[2]
    if match[1] == "~" or target.startswith("."):
        target = target.rsplit(".", 1)[-1]
    return f"<code>{target}</code>"


def on_page_content(html: str, **_: Any) -> str:
    """Replace each rendered Sphinx role by the code it names."""
    return _ROLE.sub(_shown, html)
