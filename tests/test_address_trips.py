"""Issue 19: on every page that computes from controls, settings away from the defaults survive a trip through the
sidebar (another page, then back) and a reload. Each page is opened at an address holding such settings; the app
writes its controls' values back into the address after every run, so the address after the trip and after the
reload says what the controls hold.

Every page makes the trip in the frontend's own protocol (tools/headless_session.py: a sidebar link is a run of
that page with no query string, a reload a new session on the address the app last wrote), which is all the
server sees of a tab. Two pages make it in Chromium too, where the address bar is the browser's: Optimizers (its
controls in fragments and tabs) and Convolutions (only the open tab runs)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from support import LEARNER_VIEWPORT, drawn, session_drawn, tiny_config
from tools.browser import exceptions
from tools.headless_session import HeadlessSession

pytestmark = pytest.mark.slow

# page -> (its sidebar title, settings away from the defaults). Draw's only addressed control picks among stored
# runs (none on a fresh server); Training runs is another issue's page. Saliency needs a model to explain, so it
# runs on the server whose store holds the tiny runs (its settings fit both Net2 and the CNN; it picks the Net2).
SETTINGS: dict[str, tuple[str, dict[str, str]]] = {
    "tensors": ("Tensors & autograd", {"a_src": "arange", "a_shape": "3, 4", "op": "sum", "rdim": "1",
                                       "keepdim": "1", "gw": "-1.5"}),
    "fully_connected": ("Fully connected net", {"hidden": "64", "opt": "sgd", "lr": "0.01", "bs": "128", "ep": "3",
                                                "seed": "4"}),
    "losses": ("Loss functions", {"n": "4", "z0": "3.5", "target": "2", "T": "2", "y": "1.5", "beta": "0.5",
                                  "outlier": "0", "loss_tab": "Regression losses & outliers"}),
    "optimizers": ("Optimizers", {"surface": "saddle", "mom": "0.5", "steps": "60", "lr_adam": "0.03", "at": "20",
                                  "opts": "sgd,adam", "m_ep": "3",
                                  "opt_tab": "On the real model (Fully Connected net)"}),
    "layer_shapes": ("Layer shapes", {"batch": "4", "model": "cnn", "depth": "3", "mbatch": "2",
                                      "ls_tab": "The app's models"}),
    "convolutions": ("Convolutions", {"opt": "sgd", "lr": "0.01", "ep": "2", "conv_tab": "Conv sandbox",
                                      "sb_n": "12", "sb_k": "5", "sb_p": "1"}),  # only the open tab runs
    "transfer": ("Transfer learning", {"strategy": "finetune", "k": "2", "labels": "10", "res": "64", "ep": "3",
                                       "hlr": "0.003", "blr": "0.0003", "seed": "5"}),
    "saliency": ("Saliency", {"model": "mnist:" + tiny_config("net2").key(),  # the store's other model: the CNN's first
                              "src": "MNIST test digit", "digit": "5", "methods": "saliency,integrated_gradients",
                              "ig_steps": "20", "ig_base": "blurred", "sg_n": "10", "cam_relu": "0", "occ_win": "3",
                              "sign": "absolute", "clip": "95", "alpha": "0.4"}),
}
SERVER = {"saliency": "server_with_runs"}  # page -> its server fixture, when not app_server (a fresh store)
IN_CHROMIUM = ("optimizers", "convolutions")
NOTICE = "page address"  # the words of "Ignored ... in the page address", said of a value the page could not take


def held(query: str) -> dict[str, str]:
    """The settings a query string holds."""
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}


def holds(expected: dict[str, str]):
    """A URL predicate: the address holds every expected setting."""
    return lambda url: expected.items() <= held(urlparse(url).query).items()


@pytest.mark.parametrize("key", list(SETTINGS))
def test_settings_survive_a_sidebar_trip_and_a_reload(request, key):
    _, expected = SETTINGS[key]
    url, page_file = request.getfixturevalue(SERVER.get(key, "app_server")), f"pages/{key}.py"
    with HeadlessSession(f"{url}/{key}?{urlencode(expected)}") as tab:
        session_drawn(tab, page_file, 0)
        assert not [t for t in tab.texts if NOTICE in t]
        assert expected.items() <= held(tab.query_string).items()  # the app's own writing agrees with the link

        mark = len(tab.texts)
        tab.goto("")  # Home, from the sidebar
        session_drawn(tab, "pages/home.py", mark)
        assert not expected.items() <= held(tab.query_string).items()
        mark = len(tab.texts)
        tab.goto(key)  # and back: no query string on arrival; written back from the session
        session_drawn(tab, page_file, mark)
        assert expected.items() <= held(tab.query_string).items(), tab.query_string
        assert tab.exceptions == 0
        query = tab.query_string

    with HeadlessSession(f"{url}/{key}?{query}") as reloaded:  # a new session: everything comes from the address
        session_drawn(reloaded, page_file, 0)
        assert expected.items() <= held(reloaded.query_string).items(), reloaded.query_string
        assert reloaded.exceptions == 0 and not [t for t in reloaded.texts if NOTICE in t]


@pytest.mark.browser
@pytest.mark.parametrize("key", IN_CHROMIUM)
def test_in_chromium_the_address_bar_keeps_the_settings_through_the_trip(request, page_at, key):
    title, expected = SETTINGS[key]
    app_server = request.getfixturevalue(SERVER.get(key, "app_server"))
    page = page_at(*LEARNER_VIEWPORT)
    page.goto(f"{app_server}/{key}?{urlencode(expected)}")
    drawn(page, f"pages/{key}.py", 180_000)
    assert page.locator("[data-testid='stAlertContentWarning']", has_text=NOTICE).count() == 0
    page.wait_for_url(holds(expected), timeout=60_000)

    nav = page.locator("[data-testid='stSidebarNav'] a")
    nav.filter(has_text="Home").first.click()
    page.wait_for_url(lambda url: urlparse(url).path.rstrip("/").endswith(("home", "")) and key not in url,
                      timeout=60_000)
    drawn(page, "pages/home.py", 180_000)
    nav.filter(has_text=title).first.click()
    page.wait_for_url(holds(expected), timeout=120_000)  # empty on arrival; written back from the session
    drawn(page, f"pages/{key}.py", 180_000)
    assert exceptions(page) == 0

    page.reload()
    drawn(page, f"pages/{key}.py", 180_000)
    page.wait_for_url(holds(expected), timeout=60_000)
    assert exceptions(page) == 0
    assert page.locator("[data-testid='stAlertContentWarning']", has_text=NOTICE).count() == 0
