"""The Playground in Chromium: Play advances the epoch counter and bends the boundary while the page redraws by
itself (st.fragment's timer), Pause stops it, and nothing raises. Every wait is on a state of the page."""
from __future__ import annotations

import re

import pytest

from support import ARTIFACTS, LEARNER_VIEWPORT
from tools.browser import exceptions

pytestmark = pytest.mark.browser

# A checksum of the output picture's numbers, read from Plotly's own copy of the chart's data.
BOUNDARY = """() => {
  const g = [...document.querySelectorAll('.js-plotly-plot')].find(
      p => p.layout && p.layout.title && String(p.layout.title.text).includes('Output'));
  if (!g || !g._fullData || !g._fullData.length) return null;
  const z = g._fullData[0].z;
  let s = 0;
  for (let i = 0; i < z.length; i += 7) for (let j = 0; j < z[i].length; j += 7) s += z[i][j] * (i + 1) * (j + 3);
  return s.toFixed(6);
}"""


# The Plotly chart holding a trace of this name (the network diagram: its "neurons" and, while paused, "edges").
PLOT_WITH = """(name) => [...document.querySelectorAll('.js-plotly-plot')].find(
    p => p._fullData && p._fullData.some(t => t.name === name))"""

# The page position of a diagram point (a neuron's centre, an edge's middle), from Plotly's own axes:
# [trace name, customdata] -> [x, y]
POINT = """([name, custom]) => {
  const g = (PLOT_WITH)(name);
  const t = g._fullData.find(t => t.name === name);
  const i = t.customdata.findIndex(c => c.join() === custom.join());
  const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, box = g.getBoundingClientRect();
  return [box.left + xa._offset + xa.l2p(t.x[i]), box.top + ya._offset + ya.l2p(t.y[i])];
}""".replace("PLOT_WITH", PLOT_WITH)


# A checksum of the network diagram as last drawn (Plotly's copy of its data and layout): it changes when a rerun's
# new diagram is drawn (the weights after a step, the neuron picked).
DIAGRAM = """() => {
  const g = (PLOT_WITH)('neurons');
  if (!g || !g.data) return null;
  const s = JSON.stringify(g.data) + JSON.stringify(g.layout);
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h;
}""".replace("PLOT_WITH", PLOT_WITH)


def redrawn(page, before: int) -> None:
    """Wait until the diagram shows another figure than `before` and the browser has painted it: a click then lands
    on the chart drawn, not on one Plotly is replacing (such a click is lost)."""
    page.wait_for_function(f"(before) => {{ const now = ({DIAGRAM})(); return now !== null && now !== before; }}",
                           arg=before, timeout=60_000)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def epoch(page) -> int:
    text = page.get_by_text(re.compile(r"^Epoch [\d,]+$")).first.inner_text()
    return int(text.split()[1].replace(",", ""))


def test_play_advances_the_epoch_and_bends_the_boundary_until_pause(app_server, page_at):
    page = page_at(*LEARNER_VIEWPORT)
    page.goto(f"{app_server}/playground?data=xor&hidden=4&seed=3")
    page.get_by_text("Epoch 000,000").wait_for(timeout=180_000)
    page.wait_for_function(f"() => ({BOUNDARY})() !== null", timeout=60_000)
    before = page.evaluate(BOUNDARY)
    page.get_by_role("button", name="Play").click()
    # the page redraws by itself while the network trains: the counter passes 10 and the picture changes
    page.get_by_text(re.compile(r"^Epoch (000,0[1-9]\d|000,[1-9]\d\d|0\d\d,\d{3})$")).wait_for(timeout=180_000)
    page.wait_for_function(f"(before) => {{ const now = ({BOUNDARY})(); return now !== null && now !== before; }}",
                           arg=before, timeout=120_000)
    seen = epoch(page)
    page.get_by_text(re.compile(r"^Epoch [\d,]+$")).filter(has_not_text=f"{seen:07,d}").first.wait_for(
        timeout=120_000)  # and it goes on: another redraw, a later epoch
    assert epoch(page) > seen
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Play").wait_for(timeout=60_000)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=60_000)
    page.wait_for_function(f"() => !!({PLOT_WITH})('edges')", timeout=60_000)  # paused: the edges are clickable
    paused, shown = epoch(page), page.evaluate(DIAGRAM)
    page.get_by_role("button", name="Step").click()
    page.get_by_text(f"Epoch {paused + 1:07,d}").wait_for(timeout=60_000)  # Step: exactly one more
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=60_000)
    redrawn(page, shown)  # the weights after the step
    shown = page.evaluate(DIAGRAM)
    page.mouse.click(*page.evaluate(POINT, ["neurons", [1, 2]]))  # click hidden neuron h1.3: it is drawn large
    page.get_by_text("h1.3 over the input plane").wait_for(timeout=60_000)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=60_000)
    redrawn(page, shown)  # h1.3 outlined as the one picked
    page.mouse.click(*page.evaluate(POINT, ["edges", [1, 0, 3]]))  # click the edge h1.4 -> output: type a weight
    page.get_by_label("New weight").fill("2")
    page.get_by_role("button", name="Set", exact=True).click()
    page.get_by_text("(2, 0, 3, 2.0)").first.wait_for(state="attached", timeout=60_000)  # in the program
    assert exceptions(page) == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground-after-play.png"))
