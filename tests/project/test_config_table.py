"""The variable tables of the README and ``docs/configuration.md``, between
``<!-- config-table:start -->`` and ``<!-- config-table:end -->``, are exactly what
``python -m session_service.settings.table`` prints from the settings code: a variable added,
renamed or re-described in one place and not the other fails here. A page without the markers
has no generated table (skipped, saying so)."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_service.settings.table import END, START, markdown_table

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/configuration.md"]


@pytest.mark.parametrize("page", PAGES)
def test_the_generated_table_is_the_one_in_the_page(page: str) -> None:
    path = ROOT / page
    if not path.exists():
        pytest.skip(f"{page} does not exist")
    text = path.read_text(encoding="utf-8")
    if START not in text:
        pytest.skip(f"{page} has no {START} marker: no generated table in it")
    assert text.count(START) == 1 and text.count(END) == 1, f"{page}: one table, one pair"
    shown = text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert shown == markdown_table(), (
        f"{page}'s table differs from the settings code's: paste the output of "
        "`python -m session_service.settings.table` between its markers"
    )
