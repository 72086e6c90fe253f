"""The path through the app (ui/path.py): one table, every page in it, every page ending with its link."""
from __future__ import annotations

import ast
from pathlib import Path

from streamlit.testing.v1 import AppTest

from support import page_app
from ui.path import PATH, following

ROOT = Path(__file__).resolve().parents[1]
REGISTERED = [s.page for s in PATH]
ORDER = ["home", "tensors", "playground", "fully_connected", "losses", "optimizers", "layer_shapes", "convolutions",
         "draw", "transfer", "saliency", "runs"]  # the order issue 10 asks Home to suggest (Playground: issue 21)


def test_every_page_is_on_the_path_once_in_the_suggested_order_and_the_sidebar_follows_it():
    pages = [s.page for s in PATH]
    assert len(set(pages)) == len(pages)
    assert [Path(p).stem for p in pages] == ORDER
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert all(s.title and s.blurb and s.try_this for s in PATH)


def test_each_page_leads_to_the_next_and_the_last_back_home():
    assert following("pages/tensors.py").page == "pages/playground.py"
    assert following("pages/playground.py").page == "pages/fully_connected.py"
    assert following(str(ROOT / "pages" / "saliency.py")).page == "pages/runs.py"  # __file__ is absolute
    assert following("pages/runs.py").page == "pages/home.py"


def test_every_page_ends_with_the_next_step_call():
    for page in REGISTERED:
        last = ast.parse((ROOT / page).read_text()).body[-1]
        assert isinstance(last, ast.Expr) and ast.unparse(last) == "next_step(__file__)", page


def test_pages_show_the_link_to_the_next_page_and_what_to_try():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    home_links = [(e.proto.page, e.proto.label) for e in at.get("page_link")]
    assert [p for p, _ in home_links][:len(PATH) - 1] == [Path(s.page).stem for s in PATH[1:]]  # numbered path
    assert home_links[-1] == ("tensors", "Next: **Tensors & autograd**")
    at.switch_page("pages/tensors.py")
    at.run()
    assert not at.exception, at.exception
    assert [(e.proto.page, e.proto.label) for e in at.get("page_link")] == [("playground", "Next: **Playground**")]
    assert following("pages/tensors.py").try_this in [c.value for c in at.caption]


def test_no_page_stops_without_its_next_link():
    """Every early stop goes through ui.path.stop_here, which draws the "Next: ..." link before stopping."""
    for page in REGISTERED:
        calls = [ast.unparse(n.func) for n in ast.walk(ast.parse((ROOT / page).read_text())) if isinstance(n, ast.Call)]
        assert "st.stop" not in calls, f"{page}: use stop_here(__file__) instead of st.stop()"


def test_an_early_stop_still_shows_the_next_link():
    """The Fully connected page stops before its inspection sections while the config is untrained: the link to
    the next page and what to try there are still its last lines."""
    at = page_app("fully_connected", query={"hidden": "32", "ep": "3", "seed": "4242"})  # never trained in tests
    assert any("Estimated training time" in i.value for i in at.info)  # the untrained, early-stop path
    assert "fc_units" not in [s.key for s in at.slider]
    stop = following("pages/fully_connected.py")
    assert at.markdown[-1].value == f"Next: **{stop.title}**"  # a page run alone: the link drawn as text
    assert at.caption[-1].value == stop.try_this
