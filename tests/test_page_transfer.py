"""The Transfer learning page in AppTest: strategies switched update the map at once; missing CIFAR-10 and
ImageNet weights are explained; Train on a tiny config shows the results; the CIFAR-10 route when both exist."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui.resources
import ui.transfer
import ui.transfer_data
import ui.transfer_runs
from core.data import cifar
from core.transfer import pretrained
from core.transfer.config import TransferConfig
from support import as_read, own_home, rerun
from support import write_cifar as _write_cifar
from support import write_fake_imagenet as _write_fake_imagenet

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "transfer.py")


def frame(at: AppTest, column: str):
    """The dataframe on the page that has `column`."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_strategies_switch_the_map_groups_and_totals():
    at = rerun(AppTest.from_file(PAGE, default_timeout=300))
    # 5-class head (digits 5-9): 512 * 5 + 5 = 2,565 trainable under feature extraction
    assert at.metric[0].value == "2,565 of 11,179,077"
    totals = frame(at, "model")
    assert totals["parameters"].tolist() == [11_689_512, 11_181_642, 11_179_077]
    assert totals["trainable"].tolist() == [513_000, 5_130, 2_565]  # headed "trainable (Feature extraction)"
    assert "pretrained here on digits 0-4" in "\n".join(i.value for i in at.info)
    assert "for p in model.parameters()" in at.code[0].value
    groups = frame(at, "group")
    assert groups["group"].tolist() == ["head (fc)"] and groups["parameters"].tolist() == [2_565]
    assert "**18 weighted layers** (17 conv + 1 fc)" in "\n".join(m.value for m in at.markdown)
    stages = frame(at, "stage").set_index("stage")
    assert stages.loc["layer4", "output for 1×3×32×32"] == "1 × 512 × 1 × 1"

    at.selectbox(key="tl_strategy").set_value("finetune")
    rerun(at)
    assert at.metric[0].value == f"{2_565 + 8_393_728:,} of 11,179,077"
    at.slider(key="tl_k").set_value(2)
    rerun(at)
    assert at.metric[0].value == f"{2_565 + 8_393_728 + 2_099_712:,} of 11,179,077"
    groups = frame(at, "group")
    assert groups["group"].tolist() == ["head (fc)", "backbone"]
    assert groups["learning rate"].tolist() == [1e-3, 1e-4]
    assert "model.layer4, model.layer3" in at.code[0].value
    layers = frame(at, "state").set_index("layer")
    assert (layers.loc["layer3", "state"], layers.loc["layer2", "state"]) == ("trainable", "frozen")

    at.select_slider(key="tl_res").set_value(224)
    rerun(at)
    assert frame(at, "stage").set_index("stage").loc["layer4", "output for 1×3×224×224"] == "1 × 512 × 7 × 7"

    at.selectbox(key="tl_strategy").set_value("scratch")
    rerun(at)
    assert at.metric[0].value == "11,179,077 of 11,179,077"
    assert not at.error


def test_missing_cifar_and_weights_are_explained():
    at = rerun(AppTest.from_file(PAGE, default_timeout=300))
    notes = "\n".join(m.value for m in at.markdown)
    assert "**ImageNet ResNet-18 weights** · 44.7 MB" in notes and "**CIFAR-10** · 163 MB" in notes
    said = "\n".join(c.value for c in at.caption)  # offline (the suite): the commands instead of the buttons
    assert "python -m core.transfer.pretrained --download" in said and "python -m core.data.cifar --download" in said
    assert at.radio(key="tl_route").options == [ui.transfer.ROUTES["digits"], ui.transfer.ROUTES["own"]]


@pytest.mark.slow
def test_train_a_tiny_config_and_see_the_results():
    at = rerun(AppTest.from_file(PAGE, default_timeout=300))
    at.selectbox(key="tl_strategy").set_value("scratch")
    at.select_slider(key="tl_labels").set_value(8)
    at.slider(key="tl_epochs").set_value(1)
    rerun(at)
    assert "Estimated time" in "\n".join(c.value for c in at.caption)
    at.button[0].click()
    rerun(at)
    assert ui.resources.jobs().wait_all(400)  # trained in a worker process (a fresh one imports torch first)
    rerun(at)
    assert not at.error
    assert "Loaded from the run store" in at.success[0].value
    runs = frame(at, "accuracy %")
    assert runs["run"].tolist() == ["From scratch (1 ep, head lr 0.001)"]
    assert runs["trainable"].tolist() == [11_179_077]
    verdict = next(m.value for m in at.markdown if m.value.startswith("**From scratch"))
    assert f"{runs['accuracy %'][0]:.1f}% (95% interval" in verdict
    assert "Estimated time" not in "\n".join(c.value for c in at.caption)
    stored = ui.resources.store().load(ui.transfer_runs.trained(at_config(at)).config)
    assert stored is not None and stored.metrics["trainable_params"] == 11_179_077
    charts = {c.proto.id for c in at.get("plotly_chart")}
    assert len(charts) == 8  # strip, map, curves, gradients, filters before/after, predictions, confusion


def at_config(at: AppTest):
    """The TransferConfig the page's controls describe now (read back from the stored run's table row)."""
    return next(s.config for s in ui.resources.store().summaries("transfer") if s.config.task == "target"
                and s.config.strategy == at.selectbox(key="tl_strategy").value)


@pytest.fixture
def cifar_and_weights(tmp_path, monkeypatch):
    """A tiny CIFAR-10 folder and ImageNet-keyed weights (random values) that the page finds."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _write_fake_imagenet(pretrained.hub_cache_file())
    _write_cifar(cifar.cifar_dir(tmp_path / "data"))
    with own_home(tmp_path):
        ui.transfer_data.task.clear()  # the weights and CIFAR-10 caches are keyed by the files themselves
        yield
        ui.transfer_data.task.clear()


def test_cifar_route_with_imagenet_weights(cifar_and_weights):
    at = rerun(AppTest.from_file(PAGE, default_timeout=300))
    route = at.radio(key="tl_route")
    assert route.options == [ui.transfer.ROUTES["cifar10"], ui.transfer.ROUTES["digits"], ui.transfer.ROUTES["own"]]
    assert route.value == "cifar10" and not at.info  # no offline label on the ImageNet route
    assert at.metric[0].value == "5,130 of 11,181,642"  # CIFAR-10's 10-class head
    assert "IMAGENET1K_V1.transforms()" in "\n".join(c.value for c in at.caption)
    assert "CIFAR-10: 30 train / 6 test" in "\n".join(c.value for c in at.caption)  # the test-written folder
    # training this route in a worker: tests/test_transfer.py::test_cifar_route_trains_through_the_store


@pytest.mark.slow
def test_resolution_tradeoff_appears_once_two_resolutions_are_stored(tmp_path):
    """Two tiny from-scratch runs (10 labels per class, 1 epoch) at 32 and 64 px in the page's store: the page
    draws accuracy against resolution and states the trade-off, computed from those two runs."""
    with own_home(tmp_path):  # only these two runs, whatever other tests of this process stored or downloaded
        _resolution_tradeoff()


def _resolution_tradeoff() -> None:
    import torch

    from core.transfer.fit import train_stored

    base = TransferConfig(strategy="scratch", weights="random", head_lr=1e-3, epochs=1, labels_per_class=10)
    at = rerun(AppTest.from_file(PAGE, default_timeout=300))
    at.selectbox(key="tl_strategy").set_value("scratch")
    at.select_slider(key="tl_labels").set_value(10)
    at.slider(key="tl_epochs").set_value(1)
    rerun(at)
    hint = "\n".join(c.value for c in at.caption)
    assert "Train From scratch at 32 px and at 64 px (the Input resolution control)" in hint
    assert not [c for c in at.get("plotly_chart") if "Input resolution vs target accuracy" in c.proto.spec]
    store, runs = ui.resources.store(), {}
    for res in (32, 64):
        cfg = replace(base, resolution=res)
        runs[res], _ = store.get_or_train(cfg, lambda c=cfg: train_stored(c, store, ui.resources.paths().data,
                                                                          torch.device("cpu")))
    at.select_slider(key="tl_res").set_value(64)
    rerun(at)
    assert "Loaded from the run store" in at.success[0].value
    lo, hi = runs[32].metrics, runs[64].metrics
    verdict = next(m.value for m in at.markdown if m.value.startswith("**From scratch**: going from 32 px"))
    assert f"{100 * lo['test_acc']:.1f}% to {100 * hi['test_acc']:.1f}%" in verdict
    assert f"{hi['wall_s'] / lo['wall_s']:.1f}× the time" in verdict
    charts = [c for c in at.get("plotly_chart") if "Input resolution vs target accuracy" in c.proto.spec]
    assert len(charts) == 1 and not at.error


LINKED = TransferConfig(strategy="finetune", k_stages=2, head_lr=3e-3, backbone_lr=3e-4, epochs=3, resolution=64,
                        labels_per_class=10, seed=5)  # every setting away from the page's defaults


def test_a_stored_runs_link_opens_the_page_on_that_run():
    """Issue 19: Training runs linked a ResNet run to a bare /transfer (defaults, "Not trained yet"). The kind's
    link carries the run's settings, and the page opened on it shows that run."""
    from core.runs.kinds import KINDS
    from tools.fake_runs import make_transfer_run

    store = ui.resources.store()
    if not store.has(LINKED):
        store.save(make_transfer_run(LINKED))
    page, settings = KINDS["transfer"].link(LINKED)
    assert page == "transfer" and settings["k"] == "2" and settings["blr"] == "0.0003"
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.query_params.update(settings)
    rerun(at)
    assert not at.warning, [w.value for w in at.warning]
    assert at.success and at.success[0].value == f"Loaded from the run store: {LINKED.label()}."


def test_settings_survive_a_trip_to_another_page_and_bad_values_are_named():
    """Issue 19: the Transfer page's controls reset to defaults after a sidebar trip; now they are kept in the
    session and the address, and an address value the controls don't offer is ignored with one sentence."""
    from support import entry_app

    at = entry_app()
    at.switch_page("pages/transfer.py")
    rerun(at)
    at.selectbox(key="tl_strategy").set_value("full")
    at.select_slider(key="tl_labels").set_value(50)
    at.slider(key="tl_epochs").set_value(4)
    at.number_input(key="tl_seed").set_value(3)
    rerun(at)
    assert (at.query_params["strategy"], at.query_params["labels"], at.query_params["ep"]) == ("full", "50", "4")
    at.query_params.clear()  # a sidebar link carries no query string
    at.switch_page("pages/tensors.py")
    rerun(at)
    at.switch_page("pages/transfer.py")
    rerun(at)
    assert at.selectbox(key="tl_strategy").value == "full" and at.select_slider(key="tl_labels").value == 50
    assert at.slider(key="tl_epochs").value == 4 and at.number_input(key="tl_seed").value == 3
    assert at.query_params["seed"] == "3"

    bad = AppTest.from_file(PAGE, default_timeout=300)
    bad.query_params.update({"strategy": "magic", "res": "33"})
    rerun(bad)
    assert len(bad.warning) == 2 and "strategy=magic" in as_read(bad.warning[0].value)
    assert bad.selectbox(key="tl_strategy").value == "feature" and bad.select_slider(key="tl_res").value == 32
