"""The Playground page in AppTest: every control (in the page address and the session), Play / Pause / Step / Reset,
the pictures, saving the network as a run that Training runs lists and links back, and bad address values."""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from core.lessons.playground.address import address
from core.lessons.playground.config import FEATURES, PlaygroundConfig, View
from core.lessons.playground.run import Segment
from support import page_app, rerun, texts
from ui.playground import pool


def epoch(at) -> int:
    found = re.search(r"Epoch ([\d,]+)", texts(at, "markdown"))
    assert found, texts(at, "markdown")[:500]
    return int(found.group(1).replace(",", ""))


def losses(at) -> str:
    return re.search(r"training loss \*\*[\d.]+\*\* · test loss \*\*[\d.]+\*\*", texts(at, "markdown")).group(0)


def network(at):
    return pool().get(at.session_state["pg_session"])


def params(at) -> dict[str, str]:
    return {k: at.query_params[k][0] if isinstance(at.query_params[k], list) else at.query_params[k]
            for k in at.query_params}


def click(at, key: str):
    at.button(key=key).click()
    return rerun(at)


def test_the_default_page_is_tfps_with_its_pictures_and_its_address():
    at = page_app("playground")
    assert epoch(at) == 0 and not at.warning and not at.error
    assert params(at) == address(PlaygroundConfig(), View())
    assert {c.key for c in at.get("plotly_chart")} >= {"pg_network", "pg_boundary", "pg_curve"}
    assert "nn.Sequential(" in at.code[0].value and "after 0 epochs" in at.code[0].value
    assert [b.key for b in at.button if b.key in ("pg_play", "pg_step", "pg_reset")] == ["pg_play", "pg_step",
                                                                                         "pg_reset"]
    assert "½·mean((output − label)²)" in texts(at, "caption")  # the loss is said on the page


def test_play_pause_step_and_reset():
    at = page_app("playground")
    click(at, "pg_play")
    assert network(at).wait_for_epoch(5, timeout_s=120)  # the pool's trainer thread trains while the page asks
    rerun(at)
    assert epoch(at) >= 5 and "pg_pause" in [b.key for b in at.button]
    click(at, "pg_pause")
    assert "pg_play" in [b.key for b in at.button] and not pool().playing(at.session_state["pg_session"])
    paused = network(at).epoch
    click(at, "pg_step")
    assert epoch(at) == paused + 1 == network(at).epoch  # Step: one epoch, exactly
    click(at, "pg_reset")
    assert epoch(at) == 0 and network(at).epoch == 0
    click(at, "pg_step")
    first = losses(at)
    click(at, "pg_reset")
    click(at, "pg_step")
    assert losses(at) == first  # Reset re-initialises from the seed: the same network again


def test_every_control_is_in_the_address_and_only_live_settings_keep_the_network():
    at = page_app("playground")
    click(at, "pg_step")
    click(at, "pg_step")
    live = [("select_slider", "pg_lr", 0.3, "lr", "0.3"), ("selectbox", "pg_reg", "l2", "reg", "l2"),
            ("select_slider", "pg_rate", 0.01, "rate", "0.01")]
    for kind, key, value, param, text in live:  # TFP's learning rate (and here regularization): no reset
        getattr(at, kind)(key=key).set_value(value)
        rerun(at)
        assert params(at)[param] == text and epoch(at) == 2, key
    assert network(at).segments == [Segment(0.03, "none", 0.0, 2), Segment(0.3, "l2", 0.01, 0)]
    structural = [("radio", "pg_data_classification", "spiral", "data", "spiral"),
                  ("select_slider", "pg_train", 70, "train", "70"), ("select_slider", "pg_noise", 25, "noise", "25"),
                  ("select_slider", "pg_batch", 0, "batch", "full"), ("number_input", "pg_seed", 42, "seed", "42"),
                  ("checkbox", "pg_f_x1x2", True, "features", "x1,x2,x1x2"),
                  ("number_input", "pg_layers", 3, "hidden", "4,2,2"), ("number_input", "pg_n0", 8, "hidden", "8,2,2"),
                  ("selectbox", "pg_act", "relu", "act", "relu"), ("selectbox", "pg_opt", "adam", "opt", "adam"),
                  ("selectbox", "pg_loss", "bce", "loss", "bce")]
    for kind, key, value, param, text in structural:
        click(at, "pg_step")
        assert epoch(at) >= 1
        getattr(at, kind)(key=key).set_value(value)
        rerun(at)
        assert params(at)[param] == text, (key, params(at))
        assert epoch(at) == 0, key  # a new network
    for f in FEATURES:
        at.checkbox(key=f"pg_f_{f}").set_value(False)
    rerun(at)
    assert params(at)["features"] == "none" and "No input features" in texts(at, "info")
    click(at, "pg_regenerate")
    assert params(at)["seed"] == "43"
    at.selectbox(key="pg_problem").set_value("regression")
    rerun(at)
    assert params(at)["data"] == "plane" and params(at)["loss"] == "mse" and "pg_loss" not in [s.key for s in
                                                                                              at.selectbox]
    assert "test accuracy" not in texts(at, "markdown")
    at.radio(key="pg_data_regression").set_value("multigauss")
    rerun(at)
    assert params(at)["data"] == "multigauss"
    expected = PlaygroundConfig(problem="regression", dataset="multigauss", noise=25, train_pct=70, batch_size=0,
                                features=(), hidden=(8, 2, 2), activation="relu", lr=0.3, regularization="l2",
                                reg_rate=0.01, optimizer="adam", loss="mse", seed=43)
    assert network(at).cfg == expected


def test_view_controls_neurons_and_gradients():
    at = page_app("playground")
    click(at, "pg_step")
    at.toggle(key="pg_show_test").set_value(True)
    at.toggle(key="pg_discretize").set_value(True)
    at.segmented_control(key="pg_edges").set_value("gradient")
    rerun(at)
    assert params(at)["test"] == "1" and params(at)["discretize"] == "1" and params(at)["edges"] == "gradient"
    assert "|∂loss/∂w| over all training points" in texts(at, "caption") and epoch(at) == 1  # the view: no reset
    pick = next(s for s in at.selectbox if s.key.startswith("pg_neuron_"))
    pick.set_value((1, 2))
    rerun(at)
    assert "pg_neuron_big" in [c.key for c in at.get("plotly_chart")]
    big = next(c for c in at.get("plotly_chart") if c.key == "pg_neuron_big")
    assert "h1.3 over the input plane" in big.proto.spec


def test_the_address_is_read_back_and_bad_values_warn_and_use_the_default():
    cfg = PlaygroundConfig(dataset="xor", noise=10, train_pct=30, batch_size=5, features=("x1", "x2", "sinx1"),
                           hidden=(6, 3, 1), activation="sigmoid", lr=0.1, regularization="l1", reg_rate=0.001,
                           optimizer="momentum", loss="bce", seed=77)
    view = View(show_test=True, edges="gradient")
    at = page_app("playground", query=address(cfg, view))
    assert not at.warning and params(at) == address(cfg, view) and network(at).cfg == cfg
    assert at.number_input(key="pg_layers").value == 3 and at.number_input(key="pg_n0").value == 6
    bad = page_app("playground", query={"lr": "0.5", "hidden": "9,9", "data": "moons", "act": "`![x](http://x)`",
                                        "batch": "1000", "noise": "-5"})
    warned = [w.value for w in bad.warning]
    assert len(warned) == 6 and all("using the default instead" in w for w in warned)
    assert not any(re.search(r"[\[\]()<>`!]", w) for w in warned)  # an address value is never echoed as markdown
    assert network(bad).cfg == PlaygroundConfig() and params(bad) == address(PlaygroundConfig(), View())
    missing = page_app("playground", query={"run": "0123456789abcdef"})
    assert any("not in this app's store" in w.value for w in missing.warning)


def test_a_saved_network_is_listed_on_training_runs_and_its_link_reopens_it():
    from ui import resources

    at = page_app("playground", query=address(PlaygroundConfig(dataset="gauss", hidden=(3,), seed=5), View()))
    for _ in range(3):
        click(at, "pg_step")
    at.select_slider(key="pg_lr").set_value(0.1)
    rerun(at)
    click(at, "pg_step")
    shown = losses(at)
    click(at, "pg_save")
    assert any("Saved: 4 epochs" in s.value for s in at.success)
    run_cfg = network(at).snapshot().run
    assert resources.store().has(run_cfg)
    try:
        runs = page_app("runs")
        table = runs.data_editor[0].value
        row = table[table["model"] == "2 → 3 → 1 Tanh"]
        assert len(row) == 1 and row["data"].iloc[0] == "Gaussians" and row["epochs"].iloc[0] == 4
        assert row["batch"].iloc[0] == 10
        assert row["config"].iloc[0] == "SGD lr 0.1 (changed) · seed 5"
        runs.selectbox(key="runs_pick").set_value(run_cfg.key())
        rerun(runs)
        url = runs.get("link_button")[0].proto.url
        assert url.startswith("playground?") and f"run={run_cfg.key()}" in url
        opened = page_app("playground", query=dict(parse_qsl(urlsplit(url).query)))
        assert not opened.warning and epoch(opened) == 4 and losses(opened) == shown  # trained again: same numbers
        assert network(opened).snapshot().run == run_cfg
        assert "run" not in params(opened)  # consumed: the address now describes the settings
    finally:
        resources.store().delete(run_cfg)


def test_what_cannot_be_saved_is_said_and_a_regression_run_has_no_accuracy():
    from ui import resources

    at = page_app("playground")
    click(at, "pg_save")
    assert any("Train the network first" in w.value for w in at.warning)
    reg = page_app("playground", query={"data": "plane", "hidden": "2", "seed": "3"})
    click(reg, "pg_step")
    click(reg, "pg_save")
    run_cfg = network(reg).snapshot().run
    try:
        stored = resources.store().load(run_cfg)
        assert stored is not None and "test_acc" not in stored.metrics and stored.history.val_acc == []
        runs = page_app("runs")
        table = runs.data_editor[0].value
        assert table[table["model"] == "2 → 2 → 1 Tanh"]["acc"].isna().all()
    finally:
        resources.store().delete(run_cfg)


@pytest.mark.parametrize("key", ["xor_line", "xor_feature", "xor_hidden", "spiral_sin", "spiral_deep", "l1", "lr3"])
def test_each_lesson_loads_its_settings(key):
    from core.lessons.playground.tries import TRIES

    lesson = next(t for t in TRIES if t.key == key)
    at = page_app("playground")
    click(at, "pg_step")
    click(at, f"pg_try_{key}")
    assert network(at).cfg == lesson.config and epoch(at) == 0
    assert params(at) == address(lesson.config, View())
    assert "pg_play" in [b.key for b in at.button]


def test_a_diverging_network_stops_with_a_sentence_and_play_pauses():
    at = page_app("playground", query={"data": "plane", "lr": "3"})
    click(at, "pg_play")
    assert not network(at).wait_for_epoch(1, timeout_s=60) and network(at).stopped
    rerun(at)
    assert any("Training stopped at epoch 1" in e.value for e in at.error)
    assert "pg_play" in [b.key for b in at.button]  # playing ended by itself
    at.select_slider(key="pg_lr").set_value(0.01)
    rerun(at)
    click(at, "pg_step")
    assert epoch(at) == 1 and not at.error


def test_a_stored_run_that_trains_again_differently_opens_with_its_stored_weights():
    """Another machine may round differently: opening a run whose replay does not reproduce its stored weights
    shows the stored weights and says so."""
    from support import rewrite_weights, state_equal
    from ui import resources

    at = page_app("playground", query={"hidden": "2", "seed": "11"})
    click(at, "pg_step")
    click(at, "pg_save")
    run_cfg = network(at).snapshot().run
    try:
        stored = resources.store().load(run_cfg)
        nudged = {k: v + 0.01 for k, v in stored.state.items()}
        rewrite_weights(resources.store().root / run_cfg.key(), nudged)
        opened = page_app("playground", query={**address(run_cfg.config, View()), "run": run_cfg.key()})
        assert any("came out slightly different from the stored one" in i.value for i in opened.info)
        assert state_equal(network(opened).snapshot().state, nudged) and epoch(opened) == 1
    finally:
        resources.store().delete(run_cfg)


def test_an_edge_takes_a_typed_weight_into_the_network_and_its_program():
    at = page_app("playground")
    click(at, "pg_step")
    edge = next(s for s in at.selectbox if s.key.startswith("pg_edge_"))
    edge.set_value((0, 1, 0))  # x1 -> h1.2 (a click on the edge does the same)
    rerun(at)
    live = float(network(at).model[0].weight.detach()[1, 0])
    assert at.number_input(key="pg_weight").value == pytest.approx(round(live, 4))
    at.number_input(key="pg_weight").set_value(2.5)
    click(at, "pg_set_weight")
    assert float(network(at).model[0].weight.detach()[1, 0]) == 2.5 and epoch(at) == 1
    assert '(0, 0.03, "none", 0.0, [(0, 1, 0, 2.5)]),' in at.code[0].value  # typed after epoch 1
    assert network(at).snapshot().run.segments[-1].edits[0].value == 2.5


def test_a_store_that_cannot_be_written_is_said_and_the_network_stays(monkeypatch):
    from ui import resources

    at = page_app("playground")
    click(at, "pg_step")

    def refuse(run):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(resources.store(), "save", refuse)
    click(at, "pg_save")
    assert any("the run store cannot be written (Permission denied)" in e.value for e in at.error)
    assert epoch(at) == 1 and network(at).epoch == 1
