"""The variable table of ``docs/configuration.md``, between ``<!-- config-table:start -->``
and ``<!-- config-table:end -->``, is exactly what ``python -m session_service.settings.table``
prints from the settings code: a variable added, renamed or re-described in one place and not
the other fails here. (The README links to that page instead of keeping a copy.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from session_service.settings.table import END, START, markdown_table

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["docs/configuration.md"]


@pytest.mark.parametrize("page", PAGES)
def test_the_generated_table_is_the_one_in_the_page(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, f"{page}: one table, one pair"
    shown = text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert shown == markdown_table(), (
        f"{page}'s table differs from the settings code's: paste the output of "
        "`python -m session_service.settings.table` between its markers"
    )
