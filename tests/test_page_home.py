"""The Home page links every concept page."""
from __future__ import annotations

import re

from conftest import PAGE_FILES, ROOT, entry_app


def test_home_links_every_concept_page():
    at = entry_app()
    assert at.title[0].value.startswith(":material/school: PyTorch Concept Explorer")
    links = re.findall(r'"(pages/[^"]+\.py)"', (ROOT / "pages" / "home.py").read_text())
    assert sorted(set(links) | {"pages/home.py"}) == PAGE_FILES
