"""The Convolutions page in AppTest: every tab untrained and trained, the sandbox's valid and invalid
settings and its link to the builder, feature maps of a drawing."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from support import ARTIFACTS, LEARNER_VIEWPORT, ROOT, TINY_SEED, page_app, rerun, selectbox_options, texts

CONV, DRAW = str(ROOT / "pages" / "convolutions.py"), str(ROOT / "pages" / "draw.py")


TABS = ["Shape flow", "Filters", "Feature maps & arithmetic", "Conv sandbox", "Mistakes"]


def conv_page(tiny_settings: bool) -> AppTest:
    at = page_app("convolutions")
    if tiny_settings:
        at.select_slider(key="conv_hidden").set_value(16)
        at.slider(key="conv_epochs").set_value(1)
        at.number_input(key="conv_seed").set_value(TINY_SEED)
        rerun(at)
    return at


def open_tab(at: AppTest, label: str) -> AppTest:
    at.session_state["conv_tab"] = label
    return rerun(at)


def test_convolutions_untrained_every_tab():
    at = conv_page(tiny_settings=False)
    assert "Not trained yet" in texts(at)
    assert "32·7·7" in texts(at)  # shape flow tab is open first
    for label in TABS[1:]:
        open_tab(at, label)
        assert len(at.get("plotly_chart")) >= (0 if label == "Mistakes" else 1), label
    assert "Train the model" in texts(at)  # mistakes need a trained model


def test_sandbox_controls_valid_and_invalid():
    at = open_tab(conv_page(tiny_settings=False), "Conv sandbox")
    assert "PyTorch agrees" in texts(at)
    at.slider(key="conv_sb_k").set_value(9)
    at.slider(key="conv_sb_n").set_value(3)
    rerun(at)
    assert "invalid" in texts(at) and "does not fit" in texts(at) and "Kernel size can't be greater" in texts(at)
    at.slider(key="conv_sb_k").set_value(3)
    at.slider(key="conv_sb_n").set_value(7)
    at.slider(key="conv_sb_s_conv").set_value(0)
    rerun(at)
    assert "stride is 0" in texts(at)
    at.slider(key="conv_sb_s_conv").set_value(3)
    rerun(at)
    assert "never covered" in texts(at) or "never reached" in texts(at)
    at.radio(key="conv_sb_op").set_value("pool")
    at.slider(key="conv_sb_p").set_value(2)
    rerun(at)
    assert "half the kernel size" in texts(at)


def test_sandbox_links_the_same_layer_to_the_layer_shapes_builder():
    import re
    from urllib.parse import parse_qs

    from core.models import conv_arithmetic, stacks

    at = open_tab(conv_page(tiny_settings=False), "Conv sandbox")
    at.slider(key="conv_sb_k").set_value(5)
    at.slider(key="conv_sb_p").set_value(2)
    rerun(at)
    link = re.search(r"\]\(layer_shapes\?([^)]+)\)", texts(at))
    assert link, "no link to the Layer shapes page"
    stack = stacks.decode(parse_qs(link.group(1))["stack"][0]).stack
    spec = conv_arithmetic.ConvSpec(size=7, kernel=5, stride=1, padding=2, dilation=1, op="conv")
    assert stack == stacks.sandbox_stack(spec)
    side = conv_arithmetic.check(spec).size
    assert stacks.propagate(stack).output_shape == (1, 7, 7) == (1, side, side)


def test_convolutions_with_stored_run(tiny):
    at = conv_page(tiny_settings=True)
    assert "loaded from the store" in texts(at)
    open_tab(at, "Filters")
    assert {c.key for c in at.get("plotly_chart")} >= {"conv_f1_init", "conv_f1_trained", "conv_f2"}
    at.toggle(key="conv_same_scale").set_value(False)
    at.radio(key="conv_f2_which").set_value("initialisation")
    rerun(at)
    open_tab(at, "Feature maps & arithmetic")
    assert "the same as by hand" in texts(at)
    at.number_input(key="conv_index").set_value(17)
    at.radio(key="conv_ar_layer").set_value("conv2")
    rerun(at)
    at.number_input(key="conv_ar_ch").set_value(31)
    at.number_input(key="conv_ar_row").set_value(0)
    at.number_input(key="conv_ar_col").set_value(13)
    at.number_input(key="conv_ar_in").set_value(15)
    rerun(at)
    assert "the same as by hand" in texts(at) and "sum over 16 input channels" in texts(at)
    at.button(key="conv_random").click()
    rerun(at)
    open_tab(at, "Mistakes")
    assert "misclassified" in texts(at)
    cells = at.selectbox(key="conv_cell")  # the one confusion-cell picker (ui.confusion_cells)
    t, p = cells.options[-1].split(" → ")[0].split()[-1], cells.options[-1].split(" → ")[1].split()[1]
    cells.set_value((int(t), int(p)))
    rerun(at)
    assert f"that are **{t}** but were predicted **{p}**" in texts(at)


def test_feature_maps_of_a_drawing():
    at = AppTest.from_file(CONV, default_timeout=120)
    at.session_state["drawn_digit"] = np.pad(np.ones((20, 4)), ((4, 4), (12, 12))).tolist()  # a "1"
    rerun(at)
    open_tab(at, "Feature maps & arithmetic")
    at.radio(key="conv_source").set_value("your drawing")
    rerun(at)
    assert "your drawing" in texts(at) or any("your drawing" in str(r.value) for r in at.radio)


def real_conv1(row: int, col: int, channel: int = 0) -> float:
    """conv1's output at (channel, row, col) for test digit #0 of the bundled sample, computed by nn.Conv2d itself
    with the weights the page's default CNN starts from (seed 0): what an untrained page must show."""
    from core.data.mnist import load_sample, to_input
    from core.lessons.conv_stages import initial_model
    from core.training.config import default_config

    model = initial_model(default_config("cnn", "mnist-sample").model, 0)
    with torch.no_grad():
        return float(model.conv1(to_input(load_sample().test.images[:1]))[0, channel, row, col])


def _hand_sum(text: str) -> tuple[float, float, float, float]:
    """(sum of the products, bias, value by hand, PyTorch's value) from the page's 'by hand' sentence."""
    m = re.search(r"(-?[\d.]+) \+ bias \((-?[\d.]+)\) = (-?[\d.]+) — and the feature map computed by PyTorch "
                  r"holds \**(-?[\d.]+)\**", text)
    assert m, text
    return tuple(float(g) for g in m.groups())  # type: ignore[return-value]


def test_number_inputs_pick_the_output_pixel_taken_apart():
    """The keyboard fallback of the click: row and column inputs move the window; the sum is PyTorch's value."""
    at = open_tab(conv_page(tiny_settings=False), "Feature maps & arithmetic")
    assert at.number_input(key="conv_ar_row").value == 14 and at.number_input(key="conv_ar_col").value == 14
    for r, c in ((3, 21), (0, 0), (27, 5)):  # inside, a corner (window over the padding), the bottom edge
        at.number_input(key="conv_ar_row").set_value(r)
        at.number_input(key="conv_ar_col").set_value(c)
        rerun(at)
        shown = texts(at, "markdown", "success")
        assert f"output pixel **({r}, {c})**" in shown and f"at ({r}, {c}): the same as by hand" in shown
        products, bias, value, torch_value = _hand_sum(texts(at, "success"))
        assert abs(products + bias - value) < 2e-4 and abs(torch_value - real_conv1(r, c)) < 1e-4
    assert "hangs over the border" in texts(at, "success")  # (27, 5): the bottom row reads padding
    at.radio(key="conv_ar_layer").set_value("conv2")  # a smaller map: the pixel moves inside it
    rerun(at)
    assert at.number_input(key="conv_ar_row").value == 7 and "the same as by hand" in texts(at, "success")


@pytest.mark.browser
def test_click_a_feature_map_pixel_to_take_it_apart(app_server, page_at):
    """Issue 10, item 13 at 1280×800: a click on a pixel of conv1's map shows that pixel's window, kernel and
    products, and their sum is the value nn.Conv2d computed there."""
    page = page_at(*LEARNER_VIEWPORT)
    page.goto(f"{app_server}/convolutions?{urlencode({'conv_tab': 'Feature maps & arithmetic'})}")
    page.get_by_text("output pixel (14, 14)").wait_for(timeout=120_000)
    chart = page.locator(".st-key-conv_ar_out_img")
    for r, c in ((5, 20), (22, 3)):
        chart.scroll_into_view_if_needed()
        area = chart.locator(".heatmaplayer image").first.bounding_box()  # the drawn 28×28 pixels
        page.mouse.click(area["x"] + (c + 0.5) * area["width"] / 28, area["y"] + (r + 0.5) * area["height"] / 28)
        page.get_by_text(f"output pixel ({r}, {c})").wait_for(timeout=60_000)
        success = page.get_by_text(re.compile(rf"PyTorch holds .* at \({r}, {c}\): the same as by hand"))
        success.wait_for(timeout=30_000)
        products, bias, value, torch_value = _hand_sum(success.inner_text().replace("**", ""))
        assert abs(products + bias - value) < 2e-4 and abs(torch_value - real_conv1(r, c)) < 1e-4
        assert page.locator(".st-key-conv_ar_row input").input_value() == str(r)  # the fallback inputs follow
        assert page.locator(".st-key-conv_ar_col input").input_value() == str(c)
    assert page.locator("[data-testid='stException']").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "convolutions-click-a-pixel.png"), full_page=True)


@pytest.mark.browser
def test_click_a_confusion_matrix_cell_to_see_its_digits(server_with_runs, page_at):
    """Issue 10, item 13, the other half: a click on a cell of the stored CNN's confusion matrix picks that
    (true, predicted) pair, through the same clicked-cell helper as the feature map."""
    from playwright.sync_api import expect

    page = page_at(*LEARNER_VIEWPORT)
    query = urlencode({"hidden": 16, "ep": 1, "seed": TINY_SEED, "conv_tab": "Mistakes"})  # the tiny stored CNN
    page.goto(f"{server_with_runs}/convolutions?{query}")
    box = page.locator(".st-key-conv_cell")  # the one confusion-cell picker (ui.confusion_cells)
    box.wait_for(timeout=120_000)
    options = selectbox_options(page, box)  # its mistakes, most frequent first
    true, pred = (int(d) for d in re.match(r"true (\d) → predicted (\d)", options[-1]).groups())
    chart = page.locator(".st-key-conv_cm")
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").first.bounding_box()  # the heatmap's plot area: 10 × 10 cells

    def click(row: int, col: int) -> None:
        page.mouse.click(area["x"] + (col + 0.5) * area["width"] / 10, area["y"] + (row + 0.5) * area["height"] / 10)

    click(true, true)  # the diagonal: a note in words
    page.get_by_text(f"correctly classified test digits of class {true}").first.wait_for(timeout=60_000)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=60_000)  # rerun done
    page.wait_for_timeout(1000)
    click(true, pred)  # a mistake: chosen in the selectbox
    expect(box.locator("input")).to_have_value(options[-1], timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.browser
def test_feature_map_tiles_are_large_enough_and_zoom_on_click(app_server, page_at):
    """Issue 19 at 1280×800: conv2/pool2 tiles were ~16 px. Each layer's mosaic now takes the page's width (at
    least ~48 px a tile), and a click on a tile shows that channel large."""
    page = page_at(*LEARNER_VIEWPORT)
    page.goto(f"{app_server}/convolutions?{urlencode({'conv_tab': 'Feature maps & arithmetic'})}")
    page.get_by_text("Click any tile to see it large").wait_for(timeout=120_000)
    for layer, channels in (("conv1", 16), ("conv2", 32), ("pool2", 32)):
        chart = page.locator(f".st-key-conv_maps_{layer}")
        chart.scroll_into_view_if_needed()
        area = chart.locator(".heatmaplayer image").first.bounding_box()
        rows = channels // 8
        assert area["width"] / 8 >= 48 and area["height"] / rows >= 48, (layer, area)
    chart = page.locator(".st-key-conv_maps_pool2")
    chart.scroll_into_view_if_needed()
    area = chart.locator(".heatmaplayer image").first.bounding_box()
    page.mouse.click(area["x"] + 3.5 * area["width"] / 8, area["y"] + 2.5 * area["height"] / 4)  # row 2, col 3
    page.get_by_text("Channel 19 of pool2: hover for each value").wait_for(timeout=60_000)
    zoomed = page.locator("[role='dialog'] .heatmaplayer image").first.bounding_box()
    assert zoomed["height"] >= 150
    assert page.locator("[data-testid='stException']").count() == 0
