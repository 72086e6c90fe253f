"""The Optimizers page in AppTest: 2-D surfaces, a learning rate that diverges, the real model on request."""
from __future__ import annotations

from conftest import page_app, rerun, texts


def test_optimizers_controls_move():
    at = page_app("optimizers")
    for surface in ("rosenbrock", "saddle", "bowl"):
        at.selectbox(key="opt_surface").set_value(surface)
        rerun(at)
    at.slider(key="opt_cond").set_value(30.0)
    at.slider(key="opt_momentum").set_value(0.5)
    at.slider(key="opt_steps").set_value(40)
    at.slider(key="opt_sx_bowl").set_value(1.0)
    rerun(at)
    at.selectbox(key="opt_code_for").set_value("Adam")
    rerun(at)
    assert any("torch.optim.Adam" in c.value for c in at.code)
    at.multiselect(key="opt_chosen").set_value([])
    rerun(at)
    assert "at least one optimizer" in texts(at, "info")


def test_optimizers_learning_rate_100_is_explained():
    at = page_app("optimizers")
    at.select_slider(key="opt_lr_bowl").set_value(100.0)
    rerun(at)
    warnings = texts(at, "warning")
    assert "SGD diverged at step 1" in warnings and "Lower the learning rate" in warnings
    assert not at.error


def test_optimizers_real_model_trains_on_request():
    """epochs=1 keeps it small (16 steps per optimizer on the bundled sample); jobs run in background threads."""
    from ui import resources as cache

    at = page_app("optimizers")
    at.slider(key="optm_epochs").set_value(1)
    rerun(at)
    assert at.button(key="optm_train_all")
    at.button(key="optm_train_all").click()
    rerun(at)
    assert cache.jobs().wait_all(90)
    rerun(at)
    assert texts(at, "success").count("loaded from the store") == 3
    assert any(True for _ in at.get("plotly_chart"))
