"""The Optimizers page in AppTest: 2-D surfaces raced fairly (each optimizer with its own learning rate, the paths
those of a plain torch.optim loop), a learning rate that diverges, the real model on request."""
from __future__ import annotations

import base64
import json
from functools import partial

import numpy as np
import torch

from core.lessons.optim2d import DEFAULT_LR, Surface
from support import page_app, rerun, texts, torch_path

# the reference optimizers, written out with torch.optim directly (β of SGD + momentum: the page's default 0.9)
TORCH_OPTIM = {"SGD": lambda ps, lr: torch.optim.SGD(ps, lr=lr),
               "SGD + momentum": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9),
               "Adam": lambda ps, lr: torch.optim.Adam(ps, lr=lr),
               "RMSprop": lambda ps, lr: torch.optim.RMSprop(ps, lr=lr)}


def _values(v) -> np.ndarray:
    """A Plotly JSON array: a plain list, or Plotly's typed array {"dtype", "bdata"}."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=np.float64)


def drawn_paths(at) -> dict[str, np.ndarray]:
    """{legend name: (n, 2) path walked so far} of the optimizer paths in the contour chart (not the faint road
    ahead, not the current-point markers)."""
    return {t["name"]: np.stack([_values(t["x"]), _values(t["y"])], 1) for t in contour_traces(at)
            if t.get("type") == "scatter" and t.get("showlegend", True) and " · lr " in t.get("name", "")}


def contour_traces(at) -> list[dict]:
    chart = next(c for c in at.get("plotly_chart") if c.key == "opt_contour")
    return json.loads(chart.proto.spec)["data"]


def test_each_optimizer_runs_at_its_own_learning_rate_as_torch_optim_does():
    at = page_app("optimizers")
    bowl = Surface("bowl", 10.0)
    assert all(at.select_slider(key=f"opt_lr_bowl_{o}").value == lr for o, lr in DEFAULT_LR["bowl"].items())
    assert at.slider(key="opt_steps_bowl").value == bowl.default_steps
    own = {"sgd": 0.03, "momentum": 0.01, "adam": 0.3, "rmsprop": 0.003}  # four different learning rates
    for o, lr in own.items():
        at.select_slider(key=f"opt_lr_bowl_{o}").set_value(lr)
    at.slider(key="opt_steps_bowl").set_value(40)
    rerun(at)
    paths = drawn_paths(at)
    labels = {"sgd": "SGD", "momentum": "SGD + momentum", "adam": "Adam", "rmsprop": "RMSprop"}
    assert set(paths) == {f"{labels[o]} · lr {lr:g}" for o, lr in own.items()}
    for o, lr in own.items():
        ref = torch_path(bowl, partial(TORCH_OPTIM[labels[o]], lr=lr), bowl.default_start, 40).numpy()
        got = paths[f"{labels[o]} · lr {lr:g}"]
        assert got.shape == ref.shape and np.array_equal(got.astype(np.float32), ref), o  # bit for bit
        # and not what the same optimizer does at another one's learning rate
        other_lr = own["adam" if o != "adam" else "sgd"]
        other = torch_path(bowl, partial(TORCH_OPTIM[labels[o]], lr=other_lr), bowl.default_start, 40).numpy()
        assert not np.allclose(got, other)
    at.button(key="opt_tuned").click()  # back to the tuned defaults
    rerun(at)
    assert all(at.select_slider(key=f"opt_lr_bowl_{o}").value == lr for o, lr in DEFAULT_LR["bowl"].items())


def test_rosenbrock_race_is_fair_and_no_converged_path_is_told_to_lower_its_rate():
    at = page_app("optimizers")
    at.selectbox(key="opt_surface").set_value("rosenbrock")
    rerun(at)
    labels = {"SGD": "sgd", "SGD + momentum": "momentum", "Adam": "adam", "RMSprop": "rmsprop"}
    paths = drawn_paths(at)
    assert {n.split(" · lr ")[0]: float(n.split(" · lr ")[1]) for n in paths} == {
        label: DEFAULT_LR["rosenbrock"][o] for label, o in labels.items()}  # each its own tuned rate
    assert all(len(p) == Surface("rosenbrock").default_steps + 1 for p in paths.values())
    near = {n: np.hypot(*(p[-1] - (1.0, 1.0))) < Surface("rosenbrock").near for n, p in paths.items()}
    assert [n for n, ok in near.items() if not ok] == ["SGD · lr 0.001"]  # the valley problem, said in words:
    captions = texts(at, "caption")
    assert captions.count("reached a minimum") == 3 and "SGD is still on its way" in captions
    assert "valley problem" in captions and "SGD is the exception here" in captions
    assert "fair race" in captions.lower()
    assert "Lower the learning rate" not in texts(at) and not at.warning


def test_optimizers_controls_move():
    at = page_app("optimizers")
    for surface in ("rosenbrock", "saddle", "bowl"):
        at.selectbox(key="opt_surface").set_value(surface)
        rerun(at)
    at.slider(key="opt_cond").set_value(30.0)
    at.slider(key="opt_momentum").set_value(0.5)
    at.slider(key="opt_steps_bowl").set_value(40)
    at.slider(key="opt_sx_bowl").set_value(1.0)
    rerun(at)
    at.selectbox(key="opt_code_for").set_value("adam")
    rerun(at)
    assert any("torch.optim.Adam([p], lr=0.1)" in c.value for c in at.code)
    at.button_group(key="opt_chosen").set_value(["adam", "sgd"])  # pills: every chosen one is shown
    rerun(at)
    assert {s.key for s in at.select_slider} >= {"opt_lr_bowl_sgd", "opt_lr_bowl_adam"}
    assert not {s.key for s in at.select_slider} & {"opt_lr_bowl_momentum", "opt_lr_bowl_rmsprop"}
    assert len(drawn_paths(at)) == 2
    at.button_group(key="opt_chosen").set_value([])
    rerun(at)
    assert "at least one optimizer" in texts(at, "info")


def test_optimizers_learning_rate_100_is_explained():
    at = page_app("optimizers")
    at.select_slider(key="opt_lr_bowl_sgd").set_value(100.0)
    rerun(at)
    warnings = texts(at, "warning")
    assert "SGD diverged at step 1" in warnings and "Lower the learning rate" in warnings
    assert warnings.count("Lower the learning rate") == 1  # the three others, at their defaults, are fine
    assert not at.error


def test_optimizers_real_model_trains_on_request(monkeypatch):
    """epochs=1 keeps it small (16 steps per optimizer on the bundled sample); jobs run in background threads."""
    from ui import resources

    monkeypatch.setattr(resources.store(), "summaries", lambda: [])  # no stored run to start from: the default Net2
    at = page_app("optimizers")
    at.slider(key="optm_epochs").set_value(1)
    rerun(at)
    assert at.button(key="optm_train_all")
    at.button(key="optm_train_all").click()
    rerun(at)
    assert resources.jobs().wait_all(90)
    rerun(at)
    assert texts(at, "success").count("Trained now") == 3  # this learner pressed Train: not "loaded"
    assert any(True for _ in at.get("plotly_chart"))


def test_the_race_can_be_replayed_step_by_step_with_each_path_told_apart():
    """Issue 19: four paths overlapping along Rosenbrock's valley could not be stepped through. A step slider
    marks where each optimizer is after that many steps; each path has its own dash and marker symbol."""
    at = page_app("optimizers")
    at.selectbox(key="opt_surface").set_value("rosenbrock")
    rerun(at)
    full = drawn_paths(at)
    at.slider(key="opt_at_rosenbrock_2000").set_value(300)
    rerun(at)
    walked = drawn_paths(at)
    traces = contour_traces(at)
    for name, path in walked.items():
        assert np.array_equal(path, full[name][:301])  # walked up to step 300, the rest drawn faint
        here = next(t for t in traces if t.get("name") == f"{name} at step 300")
        assert np.allclose([_values(here["x"])[0], _values(here["y"])[0]], full[name][300])
    lines = [t for t in traces if t.get("name") in walked]
    assert len({t["line"]["dash"] for t in lines}) == 4 and len({t["line"]["color"] for t in lines}) == 4
    symbols = {t["marker"]["symbol"] for t in traces if " at step 300" in t.get("name", "")}
    assert len(symbols) == 4
    loss = json.loads(next(c for c in at.get("plotly_chart") if c.key == "opt_losscurve").proto.spec)
    assert loss["layout"]["shapes"][0]["x0"] == 300
    assert at.query_params["at"] == "300"


def test_the_race_settings_live_in_the_address():
    """Issue 19: the Optimizers surface reset to defaults after a reload or a sidebar trip."""
    at = page_app("optimizers")
    at.selectbox(key="opt_surface").set_value("saddle")
    rerun(at)
    at.select_slider(key="opt_lr_saddle_adam").set_value(0.3)
    at.slider(key="opt_sx_saddle").set_value(1.0)
    at.slider(key="opt_momentum").set_value(0.5)
    at.button_group(key="opt_chosen").set_value(["adam", "sgd"])
    rerun(at)
    address = {k: at.query_params[k] for k in ("surface", "lr_adam", "sx", "mom", "opts")}
    assert address == {"surface": "saddle", "lr_adam": "0.3", "sx": "1", "mom": "0.5", "opts": "sgd,adam"}
    again = page_app("optimizers", query=dict(at.query_params))  # a reload: a new session, the same address
    assert again.selectbox(key="opt_surface").value == "saddle"
    assert again.select_slider(key="opt_lr_saddle_adam").value == 0.3 and again.slider(key="opt_sx_saddle").value == 1.0
    assert again.slider(key="opt_momentum").value == 0.5
    assert set(drawn_paths(again)) == {"SGD · lr 0.1", "Adam · lr 0.3"}
    bad = page_app("optimizers", query={"surface": "moon", "lr_sgd": "7"})
    assert [w.value for w in bad.warning if "page address" in w.value] and \
        bad.selectbox(key="opt_surface").value == "bowl"


def test_every_surfaces_default_race_is_computed_once_in_the_background(monkeypatch):
    """Issue 19: switching surface took 6.4 s (Rosenbrock's four 2,000-step races). The page starts, once per
    server, a background thread that computes every surface's default race; switching then computes nothing."""
    import core.lessons.optim2d
    import ui.optim

    ui.optim.optim_trajectory.clear()
    ui.optim.warm_default_races.clear()
    at = page_app("optimizers")
    ui.optim.warm_default_races().join()  # the same thread the page started

    def no_steps(*a, **k):
        raise AssertionError("the default race should have been computed in the background")

    monkeypatch.setattr(core.lessons.optim2d, "trajectory", no_steps)
    for name in ("rosenbrock", "saddle"):
        at.selectbox(key="opt_surface").set_value(name)
        rerun(at)
        assert len(drawn_paths(at)) == 4
