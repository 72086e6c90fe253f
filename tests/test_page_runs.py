"""Training runs page through AppTest: table of every run, filter, sort, ticks, rename, curves, open link, compare,
delete with confirmation, import (good and hostile), a run still being written."""
from __future__ import annotations

import base64
import threading
from pathlib import Path

import numpy as np
import plotly.io
import pytest
from playwright.sync_api import expect
from streamlit.testing.v1 import AppTest

from core.runs.archive import export_run, read_archive
from core.runs.kinds import KINDS
from core.runs.store import RunStore
from support import page_app, state_equal
from tools.app_server import running_server
from tools.fake_runs import fill_store, synthetic_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store():
    from ui import resources

    fill_store(resources.store().root, 6)  # 3 Net2 and 3 CNNDemo runs of different settings
    return resources.store()


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "runs.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def editor(at: AppTest):
    return at.data_editor[0]


def edit(at: AppTest, rows: dict[int, dict]) -> None:
    """Edit cells as a learner would (the editor's edit state), then rerun."""
    at.session_state[editor(at).key] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception


def figure(at: AppTest):
    return plotly.io.from_json(at.get("plotly_chart")[0].proto.spec)


def values(v) -> np.ndarray:
    """A trace's array as Plotly's JSON carries it (plain list, or base64 'bdata' with a dtype)."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v)


def legend(at: AppTest) -> list[str]:
    return [tr.name for tr in figure(at).data if tr.showlegend is not False]


def test_every_run_is_listed_with_the_newest_three_ticked_and_plotted(store):
    at = page()
    df = editor(at).value
    summaries = [s for s in store.summaries(kind=None) if KINDS[s.kind].listed]  # other tests may add other kinds
    assert len(df) == len(summaries) >= 6
    assert {"Net2", "CNNDemo"} <= {m.split()[0] for m in df["model"]}
    for s in summaries:
        if "test_acc" in s.metrics:
            assert df.at[s.key, "acc"] == round(100 * s.metrics["test_acc"], 2)
        assert df.at[s.key, "epochs"] == s.config.epochs
    assert df["show"].sum() == 3 and list(df["show"][:3]) == [True] * 3  # newest first, and visibly ticked
    assert legend(at) == list(df["name"][:3])  # one legend entry per run, named as in the table
    assert "trained" not in " ".join(df["name"]).lower()


def test_filter_by_model_and_sort_by_any_column(store):
    at = page()
    at.multiselect(key="runs_models").set_value(["CNNDemo"])
    at.selectbox(key="runs_sort").set_value("Accuracy")
    at.toggle(key="runs_desc").set_value(False)
    at.run()
    assert not at.exception, at.exception
    df = editor(at).value
    assert len(df) >= 3 and all(m.startswith("CNNDemo") for m in df["model"])
    assert list(df["acc"]) == sorted(df["acc"])
    at.selectbox(key="runs_sort").set_value("Batch size")
    at.run()
    assert list(editor(at).value["batch"]) == sorted(editor(at).value["batch"])


def test_ticks_and_names_are_applied_and_kept(store):
    at = page()
    df = editor(at).value
    edit(at, {0: {"show": False}, 3: {"show": True}, 1: {"name": "  my best run  "}})
    df2 = editor(at).value
    assert list(df2["show"][:4]) == [False, True, True, True]
    assert df2["name"].iloc[1] == "my best run"
    assert store.summaries() and "my best run" in legend(at)
    from core.runs.names import RunNames

    assert "my best run" in RunNames(store.root).all().values()
    edit(at, {1: {"name": ""}})  # an empty name goes back to the summary
    assert editor(at).value["name"].iloc[1] == df["name"].iloc[1]


def test_curve_controls_change_the_figure(store):
    at = page()
    at.radio(key="runs_x").set_value("step")
    at.toggle(key="runs_log").set_value(True)
    at.slider(key="runs_smooth").set_value(0.0)
    at.run()
    assert not at.exception, at.exception
    fig = figure(at)
    assert fig.layout.xaxis.title.text == "optimizer step" and fig.layout.yaxis.type == "log"
    first = [tr for tr in fig.data if tr.showlegend is not False][0]
    s = next(s for s in store.summaries() if s.key == editor(at).value.index[0])
    x, y = values(first.x), values(first.y)
    assert x[0] == 1 and len(x) == len(s.history.step_loss)  # one point per step, from 1
    assert list(y) == pytest.approx(s.history.step_loss)  # smoothing 0: the raw losses
    edit(at, {i: {"show": False} for i in range(3)})
    assert not at.get("plotly_chart") and any("Tick **Plot**" in i.value for i in at.info)


def test_open_link_carries_the_page_settings(store):
    at = page()
    link = at.get("link_button")[0].proto
    name = at.selectbox(key="runs_pick").value
    s = next(s for s in store.summaries() if s.key == name)
    page_stem = {"net2": "fully_connected", "cnn": "convolutions"}[s.config.model.arch]
    assert link.url.startswith(page_stem + "?") and f"hidden={s.config.model.hidden}" in link.url
    assert f"lr={s.config.lr:g}" in link.url and f"bs={s.config.batch_size}" in link.url


def test_compare_highlights_the_differences(store):
    at = page()
    keys = list(editor(at).value.index)
    at.selectbox(key="runs_cmp_a").set_value(keys[0])
    at.selectbox(key="runs_cmp_b").set_value(keys[1])
    at.run()
    table = next(m.value for m in at.markdown if m.value.startswith("| setting"))
    assert "| **lr** | :orange-background[" in table and "| kind | mnist | mnist |" in table


def test_delete_asks_first_and_cancel_keeps_the_run(store):
    at = page()
    key = at.selectbox(key="runs_pick").value
    at.button(key="runs_delete").click()
    at.run()
    assert any("Delete **" in w.value for w in at.warning)
    at.button(key="runs_delete_no").click()
    at.run()
    assert key in {s.key for s in store.summaries()} and not at.warning
    at.button(key="runs_delete").click()
    at.run()
    s = next(s for s in store.summaries() if s.key == key)
    data = export_run(store.load(s.config), s.created)
    at.button(key="runs_delete_yes").click()
    at.run()
    assert not at.exception, at.exception
    assert key not in {s.key for s in store.summaries()} and key not in editor(at).value.index
    assert any("Deleted" in m.value for m in at.success)
    # the exported zip brings it back, with its date
    at.file_uploader(key="runs_import").set_value(("run.zip", data, "application/zip"))
    at.run()
    assert not at.exception, at.exception
    assert any("Imported" in m.value for m in at.success)
    assert key in editor(at).value.index and s.created in {x.created for x in store.summaries()}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".locks" not in p.parts}


def _traversal_zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../run.json", b"{}")
        zf.writestr("weights.safetensors", b"x")
    return buf.getvalue()


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x05\x06" + b"\0" * 18, _traversal_zip()],
                         ids=["random", "empty-zip", "traversal"])
def test_a_bad_import_gets_a_message_and_changes_nothing(store, content):
    at = page()
    before = _snapshot(store.root)
    at.file_uploader(key="runs_import").set_value(("evil.zip", content, "application/zip"))
    at.run()
    assert not at.exception, at.exception
    assert any("Not imported" in e.value for e in at.error)
    assert _snapshot(store.root) == before
    at.run()  # the next interaction works and the message is not repeated
    assert not at.exception and not at.error


def test_a_run_being_written_is_announced_not_listed(store):
    s = store.summaries()[0]
    at = page()
    listed = len(editor(at).value)
    with store.lock(s.config):  # as while another tab trains or stores it
        at.run()
        assert any("training or being written" in i.value for i in at.info)
        assert len(editor(at).value) == listed
    at.run()
    assert not any("training or being written" in i.value for i in at.info)


@pytest.mark.slow
def test_runs_page_lists_stored_runs_and_overlays_them():
    import torch

    from core.data.mnist import load_sample
    from core.models.registry import ModelConfig
    from core.training.config import TrainConfig
    from core.training.loop import fit
    from ui import resources

    for seed in (11, 12):
        cfg = TrainConfig(model=ModelConfig("cnn", 16), batch_size=512, epochs=1, seed=seed, data_source="mnist-sample")
        if resources.store().load(cfg) is None:
            resources.store().save(fit(cfg, load_sample(), torch.device("cpu")))
    at = page_app("pages/runs.py")
    at.multiselect(key="runs_models").set_value(["CNNDemo"])
    at.run()
    assert not at.exception, at.exception
    table = at.data_editor[0].value
    assert len(table) >= 2
    assert "CNNDemo h16" in set(table["model"])  # this test's runs, beside the module fixture's other widths
    assert all(m.startswith("CNNDemo") for m in table["model"]) and (table["acc"] > 10).all()
    assert len(at.get("plotly_chart")) == 1


@pytest.mark.browser
def test_a_run_training_elsewhere_appears_when_it_is_stored(browser, tmp_path):
    fill_store(tmp_path / "runs", 2)
    store = RunStore(tmp_path / "runs")
    late, finish = synthetic_run(2), threading.Event()

    def train():
        assert finish.wait(120)
        return late

    trainer = threading.Thread(target=store.get_or_train, args=(late.config, train))  # holds the lock, as training does
    trainer.start()
    try:
        with running_server(tmp_path) as (_, url):
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            page = ctx.new_page()
            page.goto(f"{url}/runs")
            page.get_by_text("training or being written right now").wait_for(timeout=90_000)
            # the table is drawn after the notice, in the same run: waited for, not counted at once
            expect(page.get_by_text("2 of 2 runs listed")).to_have_count(1, timeout=90_000)  # nothing partial
            finish.set()
            page.get_by_text("3 of 3 runs listed").wait_for(timeout=30_000)
            expect(page.get_by_text("training or being written right now")).to_have_count(0, timeout=30_000)
            link = page.get_by_role("link", name="Open on its page")
            link.wait_for(timeout=90_000)  # the rest of the page, after the rerun the finished run caused
            href = link.get_attribute("href")
            assert href.startswith(("fully_connected?", "convolutions?")) and "hidden=" in href and "lr=" in href
            with page.expect_download(timeout=30_000) as download:
                page.get_by_role("button", name="Export (.zip)").click()
            run, _ = read_archive(download.value.path().read_bytes())  # the download is a valid export
            stored = store.load(run.config)
            assert stored is not None and state_equal(run.state, stored.state) and run.history == stored.history
            assert page.locator("[data-testid='stException']").count() == 0
            ctx.close()
    finally:
        finish.set()
        trainer.join(30)
