"""AppTest: the Layer shapes page with presets, a broken stack from the URL, edits, a fix, and ResNet-18."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.models import stacks
from support import ARTIFACTS, as_read, rerun


@pytest.mark.browser
def test_broken_link_graph_and_fix_in_chromium(app_server, page):
    page.goto(f"{app_server}/layer_shapes?stack={stacks.encode(stacks.PRESETS['broken'].stack)}")
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


PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "layer_shapes.py")


def page(stack: str | None = None, **params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    if stack is not None:
        at.query_params["stack"] = stack
    for name, value in params.items():
        at.query_params[name] = value
    return rerun(at)


def test_default_stack_measures_and_shows_code():
    at = page()
    assert "Output per sample: [10]" in at.success[0].value
    assert at.query_params["stack"] == stacks.encode(stacks.PRESETS["cnn"].stack)
    assert "nn.Conv2d(1, 16, 3, padding=1),  # (B, 16, 28, 28)" in at.code[0].value
    table = at.dataframe[0].value
    assert list(table["type"]) == [layer.kind for layer in stacks.PRESETS["cnn"].stack.layers]
    assert int(table["params"].sum()) == 206_922  # CNNDemo h128, from the live model
    at.selectbox(key="ls_pick").set_value(7)
    rerun(at)
    assert "1568·128 + 128 = **200,832**" in "\n".join(m.value for m in at.markdown)


def test_broken_stack_from_the_url_shows_where_and_the_fix_repairs_it():
    at = page(stacks.encode(stacks.PRESETS["broken"].stack))
    assert "in_features should be 1568 = 32·7·7" in at.error[0].value and "Layer 7" in at.error[0].value
    assert len(at.dataframe[0].value) == 7  # the partial table up to the failing layer
    assert "# <- does not fit" in at.code[0].value
    at.button(key="ls_fix").click()
    rerun(at)
    assert not at.error and "Output per sample: [10]" in at.success[0].value
    assert "l1568.128" in at.query_params["stack"]


def test_editing_a_kernel_too_large_and_a_bad_link():
    at = page("i1.8.8_c1.4.3_r")
    v = at.session_state["ls_version"]
    at.number_input(key=f"ls_0_Conv2d_{v}_kernel_size").set_value(11)
    rerun(at)
    assert "kernel_size should be at most 8" in at.error[0].value
    assert at.query_params["stack"] == "i1.8.8_c1.4.11_r"
    bad = page("i1.28.28_c1.16.99")
    assert "kernel_size = 99 is outside 1…31" in as_read(bad.warning[0].value) and bad.success  # falls back to CNNDemo


def test_presets_and_the_registry_models_tab():
    at = page()
    at.selectbox(key=f"ls_preset_{at.session_state['ls_version']}").set_value("lenet5")
    rerun(at)
    assert at.query_params["stack"] == stacks.encode(stacks.PRESETS["lenet5"].stack)
    assert at.selectbox(key="ls_model").options == ["Fully connected (Net2)", "Convolutional (CNNDemo)",
                                                    "ResNet-18 (torchvision)", "Your layer stack (Layer shapes)"]
    net2 = at.dataframe[1].value  # the first registry entry: Net2 h128
    assert list(net2["layer"]) == ["flatten", "fc1", "relu", "fc2"] and int(net2["params"].sum()) == 101_770
    at.selectbox(key="ls_model").set_value("resnet18")
    rerun(at)
    at.select_slider(key="ls_rn_side").set_value(32)
    at.slider(key="ls_rn_depth").set_value(3)
    rerun(at)
    resnet = at.dataframe[1].value
    assert int(resnet[resnet["depth"] == 1]["params"].sum()) == 11_181_642  # 10 classes
    assert "BasicBlock" in set(resnet["type"]) and "Partial" not in set(resnet["trainable"])
    at.radio(key="ls_rn_classes").set_value(1000)
    rerun(at)
    assert int(at.dataframe[1].value.query("depth == 1")["params"].sum()) == 11_689_512
    at.selectbox(key="ls_model").set_value("built")  # the builder's stack (LeNet-5) through the registry
    rerun(at)
    lenet = at.dataframe[1].value
    assert list(lenet["type"]) == [layer.kind for layer in stacks.PRESETS["lenet5"].stack.layers]
    assert int(lenet["params"].sum()) == 61_706


def test_a_stack_that_does_not_fit_the_digits_has_no_training_panel():
    at = page("i1.8.8_c1.4.3_r")
    assert not {"ls_train_train", "ls_train_optimizer"} & _keys(at)
    at.selectbox(key="ls_model").set_value("built")
    rerun(at)
    assert "Fix it in the Layer builder tab" in at.info[0].value


def _keys(at: AppTest) -> set[str]:
    return {w.key for kind in ("button", "selectbox", "slider", "select_slider", "number_input")
            for w in getattr(at, kind)}


@pytest.mark.slow
def test_a_stack_that_fits_trains_with_the_shared_controls_and_shows_its_stored_run():
    """The run a built stack trains lands in the run store; the page finds it there by its config."""
    import torch

    from core.config import Paths
    from core.data.mnist import MNISTData
    from core.data.split import Split
    from core.models.registry import ModelConfig
    from core.runs.store import RunStore
    from core.training.config import TrainConfig
    from core.training.loop import fit

    stack = stacks.Stack((1, 28, 28), (stacks.Conv2d(1, 2, 5, stride=3), stacks.ReLU(), stacks.Flatten(),
                                       stacks.Linear(128, 10)))
    at = page(stacks.encode(stack))
    assert {"ls_train_optimizer", "ls_train_lr", "ls_train_batch", "ls_train_epochs", "ls_train_seed",
            "ls_train_train"} <= _keys(at) and "ls_train_hidden" not in _keys(at)
    at.slider(key="ls_train_epochs").set_value(1)
    rerun(at)
    assert at.query_params["ep"] == "1" and "Not trained yet" in at.info[0].value
    cfg = TrainConfig(ModelConfig("built", spec=stacks.encode(stack)), "adam", 1e-3, batch_size=128, epochs=1)
    g = torch.Generator().manual_seed(0)
    tiny = Split(torch.randint(0, 255, (64, 28, 28), generator=g, dtype=torch.uint8), torch.arange(64) % 10)
    RunStore(Paths.from_env().runs).save(fit(cfg, MNISTData("mnist-sample", "tiny", tiny, tiny)))
    again = page(stacks.encode(stack), ep="1")
    found = [s.value for s in again.success] + [w.value for w in again.warning]  # random labels: "did not learn"
    assert any("Trained run loaded from the store" in v or "Stored run loaded" in v for v in found)
