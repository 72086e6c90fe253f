"""Real-browser check of the Layer shapes page: a broken stack from a link, the graph drawn, the fix applied."""
from __future__ import annotations

import pytest

from conftest import ROOT
from core import layers as L

ARTIFACTS = ROOT / "test-artifacts"


@pytest.mark.browser
def test_broken_link_graph_and_fix_in_chromium(app_server, page):
    page.goto(f"{app_server}/layer_shapes?stack={L.encode(L.PRESETS['broken'].stack)}")
    page.get_by_text("in_features should be 1568 = 32·7·7").first.wait_for(timeout=90_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "layer-shapes-before-graph.png"), full_page=True)
    expander = page.locator("summary", has_text="Module graph").locator("visible=true").first
    expander.scroll_into_view_if_needed()
    expander.click()
    graph = page.locator("[data-testid='stGraphVizChart'] svg").first
    graph.wait_for(timeout=60_000)  # DOT rendered in the browser: no Graphviz binary on the server
    assert graph.locator("g.node").count() == 9  # input + the 7 layers that fit + output
    assert graph.locator("g.edge").count() == 8
    page.screenshot(path=str(ARTIFACTS / "layer-shapes-broken.png"), full_page=True)
    page.get_by_role("button", name="Apply the fix").click()
    page.get_by_text("Output per sample: [10]").wait_for(timeout=60_000)
    assert "l1568.128" in page.url  # the repaired stack is in the address, so a link reproduces it
    assert page.locator("[data-testid='stException']").count() == 0
