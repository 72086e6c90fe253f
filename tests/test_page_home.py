"""The Home page links every concept page, in the suggested order of the path (ui/path.py)."""
from __future__ import annotations

from support import PAGE_FILES, entry_app


def test_home_links_every_concept_page():
    at = entry_app()
    assert at.title[0].value.startswith(":material/school: PyTorch Concept Explorer")
    links = {f"pages/{e.proto.page}.py" for e in at.get("page_link")}  # the path's table
    assert sorted(links | {"pages/home.py"}) == PAGE_FILES
