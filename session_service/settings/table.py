"""The docs' table of every variable, printed from :data:`~session_service.settings.ENV_VARS`:
``python -m session_service.settings.table`` writes the Markdown that goes between
``<!-- config-table:start -->`` and ``<!-- config-table:end -->`` in ``docs/configuration.md``
(a test checks the two agree)."""

from __future__ import annotations

from .env import ENV_VARS, EnvVar

START = "<!-- config-table:start -->"
END = "<!-- config-table:end -->"


def markdown_table(variables: tuple[EnvVar, ...] = ENV_VARS) -> str:
    """One row per variable, in the order ``from_env`` reads them; ends with a newline."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default} | {v.meaning} |" for v in variables]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
