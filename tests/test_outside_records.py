"""Records from outside whose values pass the types but not the display (BAD_INPUTS 24): dates past the year 9999 or
before 1970, durations of 1e308 s, optional metrics missing. The schema refuses what no page can show, with the
field named; numbers are written by core.fmt with a width limit; every page still opens, and the Training runs
page always draws its import and delete controls. Every input is built here."""
from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.runs.archive import export_run, read_archive
from core.runs.kinds import KINDS
from core.runs.schema import METRICS, parse_record
from core.runs.store import RunStore
from core.training.config import default_config
from core.training.record import History, RecordError, Run
from core.transfer.config import FeatureConfig, TransferConfig
from support import PAGE_FILES, edit_meta, entry_app, own_home, page_app, rerun
from tools.fake_runs import make_run, make_transfer_run, synthetic_run

YEAR_10000 = 253_402_300_800.0 + 86_400  # 10000-01-02 UTC
OPTIONAL = [name for name, (_, required) in METRICS.items() if not required]
LONG_NUMBER = re.compile(r"\d[\d,]{19,}")  # 20 or more digits in a row: a number nobody can read


def _record(**change) -> dict:
    """A valid run.json as the store writes it, with `change` applied ("metrics.wall_s" reaches into metrics)."""
    run = make_run()
    store_dict = {"format": 1, "config": run.config.to_dict(), "history": run.history.to_dict(),
                  "metrics": dict(run.metrics), "created": 1.7e9, "status": "ok", "weights_sha256": "0" * 64}
    for name, value in change.items():
        if name.startswith("metrics."):
            store_dict["metrics"][name.split(".", 1)[1]] = value
        else:
            store_dict[name] = value
    return store_dict


@pytest.mark.parametrize("field, value, words", [
    ("created", 1e308, "created"), ("created", YEAR_10000, "9999"), ("created", -1.0, "1970"),
    ("metrics.wall_s", 1e308, "wall_s"), ("metrics.train_s", 1e300, "train_s"),
    ("metrics.samples_per_s", 1e300, "samples_per_s"), ("metrics.n_train", 10 ** 400, "n_train"),
], ids=["1e308", "year-10000", "before-1970", "wall-1e308", "train-1e300", "rate-1e300", "count-400-digits"])
def test_the_schema_refuses_values_no_page_can_show_and_says_which(field, value, words):
    with pytest.raises(RecordError) as e:
        parse_record(_record(**{field: value}))
    assert words in str(e.value) and len(str(e.value)) < 200  # a 400-digit value is quoted cut, not whole


def test_the_last_day_the_calendar_writes_is_accepted_and_shown():
    from core.fmt import when

    record = parse_record(_record(created=YEAR_10000 - 3 * 86_400))
    assert when(record.created, "%Y") == "9999"
    assert when(1e308) == when(-1e20) == "unknown"  # the display's own guard, behind the schema's


def test_numbers_have_a_width_limit():
    from core.fmt import num

    assert num(1e308) == "1.00e+308" and num(-1e300, 1) == "-1.00e+300"
    assert num(11_689_512) == "11,689,512" and num(1234.5, 1) == "1,234.5"  # ordinary numbers unchanged
    assert all(len(num(v, d)) <= 16 for v in (1e15, 1e20, 123456789012.5, -1e200) for d in (None, 0, 2))


def test_a_run_from_the_far_future_exports_and_imports_with_its_date():
    created = YEAR_10000 - 3 * 86_400  # valid, but past what a zip entry's date can hold (2107)
    run, back = read_archive(export_run(make_run(), created))
    assert back == created


def _minimal(run: Run) -> Run:
    """`run` with only the metrics every kind must have (the optional ones left out)."""
    return replace(run, metrics={k: v for k, v in run.metrics.items() if k not in OPTIONAL})


def _features_run() -> Run:
    cfg = FeatureConfig("digits-pretrained", "0123456789abcdef", "digits", 20, 2000, 32, n_train=2, n_test=2)
    metrics = {"train_s": 1.0, "wall_s": 1.0, "samples_per_s": 4.0, "device": "cpu", "n_train": 2, "n_test": 2}
    return Run(cfg, {"train": torch.zeros(2, 512), "test": torch.zeros(2, 512)}, History(steps_per_epoch=1), metrics)


def _playground_run() -> Run:
    from core.lessons.playground.config import PlaygroundConfig
    from core.lessons.playground.live import Playground
    from core.runs.playground import playground_run

    pg = Playground(PlaygroundConfig(seed=4242))
    pg.train(1)  # a real network of one epoch: a playground run is its own record of what it trained
    return _minimal(playground_run(pg.snapshot(), "cpu"))


def _own_classes_run() -> Run:
    """The learner's two classes of ten photos: the head's zero weights and held-out scores of the right shapes."""
    from core.transfer.own.config import OwnClassesConfig
    from core.transfer.own.fit import expected_state

    cfg = OwnClassesConfig("0" * 16, '["cat", "cup"]', 10, "1" * 16, epochs=1, seed=4242)
    state = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in expected_state(cfg).items()}
    metrics = {"test_acc": 0.5, "test_loss": 0.7, "train_s": 1.0, "wall_s": 1.0, "samples_per_s": 2.0,
               "device": "cpu", "n_train": 10, "n_test": 10}
    return _minimal(Run(cfg, state, History([0.7], 1, [0.7], [0.5]), metrics))


# One minimal run per kind, of settings no other test stores (seed 4242, 7 epochs) and that pages can be pointed at.
MINIMAL = {
    "mnist": lambda: _minimal(make_run(replace(default_config("net2", "mnist-sample"), seed=4242))),
    "transfer": lambda: _minimal(make_transfer_run(TransferConfig(epochs=7))),
    "features": _features_run,
    "playground": _playground_run,
    "own-classes": _own_classes_run,
}


def test_a_minimal_archive_of_each_kind_imports_and_every_page_opens(tmp_path):
    assert set(MINIMAL) == set(KINDS), "a new run kind needs its minimal archive here"
    with own_home(tmp_path):
        RunStore(tmp_path / "runs").save(synthetic_run(0))  # one complete run beside the minimal ones
        at = page_app("runs")
        for kind, make in MINIMAL.items():
            run = make()
            assert not set(run.metrics) & set(OPTIONAL)
            at.file_uploader(key="runs_import").set_value((f"{kind}.zip", export_run(run, 1.7e9), "application/zip"))
            rerun(at)
            assert any("Imported" in m.value for m in at.success), (kind, [e.value for e in at.error])
        assert {s.kind for s in RunStore(tmp_path / "runs").summaries(kind=None)} == set(KINDS)
        query = {"pages/fully_connected.py": {"seed": "4242"}}  # the stored minimal MNIST run, loaded and shown
        session = {"pages/transfer.py": {"tl_epochs": 7}}  # the stored minimal transfer run, evaluated
        for page in PAGE_FILES:
            at = app_page(page, query.get(page), session.get(page))  # fails on any exception
            if page == "pages/fully_connected.py":
                assert any("loaded from the store" in s.value for s in at.success)
            if page == "pages/transfer.py":
                assert any("Loaded from the run store" in s.value for s in at.success)


def app_page(page: str, query: dict | None = None, session: dict | None = None) -> AppTest:
    """`page` opened through the app's entry script (navigation, sidebar) with this address and session."""
    at = entry_app()
    for k, v in (session or {}).items():
        at.session_state[k] = v
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(page)
    return rerun(at)


def _long_numbers(at) -> list[str]:
    shown = [str(e.value) for kind in ("markdown", "caption", "info", "success", "warning", "error")
             for e in at.get(kind)]
    shown += [str(v) for d in at.data_editor for v in d.value.to_numpy().ravel()]
    return [m for text in shown for m in LONG_NUMBER.findall(text)]


@pytest.mark.parametrize("field, value", [("created", 1e308), ("created", YEAR_10000), ("created", -86_400.0),
                                          ("metrics.wall_s", 1e308), ("metrics.train_s", 1e308)])
def test_one_stored_record_never_breaks_the_training_runs_page(tmp_path, field, value):
    with own_home(tmp_path):
        store = RunStore(tmp_path / "runs")
        good = [synthetic_run(i) for i in range(3)]
        for run in good:
            store.save(run)
        bad = good[2].config.key()

        def change(obj: dict) -> dict:
            if field.startswith("metrics."):
                obj["metrics"][field.split(".", 1)[1]] = value
            else:
                obj[field] = value
            return obj

        edit_meta(tmp_path / "runs" / bad, change)
        at = page_app("runs")
        assert at.file_uploader(key="runs_import") is not None and at.button(key="runs_delete") is not None
        assert not _long_numbers(at)
        listed = set(at.data_editor[0].value.index)
        assert {r.config.key() for r in good[:2]} <= listed and bad not in listed  # refused, the others shown
        why = [p.read_text() for p in (tmp_path / "runs" / ".corrupt").glob("*/why.txt")]
        assert len(why) == 1 and field.split(".")[-1] in why[0]  # set aside with the reason


def test_the_compare_table_writes_huge_valid_numbers_readably(tmp_path):
    """A loss of 1e300 is valid (a run that did not learn keeps its own) and is written by core.fmt everywhere."""
    with own_home(tmp_path):
        store = RunStore(tmp_path / "runs")
        for i in range(2):
            store.save(synthetic_run(i))
        edit_meta(tmp_path / "runs" / synthetic_run(0).config.key(),
                  lambda m: {**m, "metrics": {**m["metrics"], "test_loss": 1e300}})
        at = page_app("runs")
        assert not _long_numbers(at) and len(at.data_editor[0].value) == 2
        json.dumps([m.value for m in at.markdown])  # every text is plain data
