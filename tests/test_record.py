"""The run record's one schema, the config bounds shared with the controls, and the table of stored kinds."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from core.config import ConfigError
from core.models.registry import ModelConfig
from core.runs.schema import parse_record
from core.training.config import TRAIN_BOUNDS, TrainConfig
from core.training.record import History, RecordError

CFG = TrainConfig(model=ModelConfig("net2", 16), epochs=2)


def good() -> dict:
    return {"format": 1, "config": CFG.to_dict(), "created": 1.7e9, "status": "ok", "weights_sha256": "a" * 64,
            "history": History([2.0, 1.5, 1.0, 0.5], 2, [1.0, 0.5], [0.6, 0.8]).to_dict(),
            "metrics": {"test_acc": 0.8, "test_loss": 0.5, "train_s": 1.0, "wall_s": 1.2, "samples_per_s": 9.0,
                        "device": "cpu", "n_train": 10, "n_test": 5}}


def test_a_valid_record_round_trips():
    r = parse_record(json.loads(json.dumps(good())))
    assert r.config == CFG and r.kind == "mnist" and r.status == "ok" and r.history.val_acc == [0.6, 0.8]
    assert parse_record(r.to_dict()) == r
    old = good()
    del old["status"]  # records from before statuses existed were all "ok"
    assert parse_record(old).status == "ok"


@pytest.mark.parametrize("path,value", [
    (("history", "step_loss"), [2.0, float("nan"), 1.0, 0.5]),
    (("history", "step_loss"), [2.0, "1", 1.0, 0.5]),
    (("history", "step_loss"), [2.0, 1.0, 0.5]),
    (("history", "val_acc"), [0.6, 1.2]),
    (("history", "steps_per_epoch"), True),
    (("metrics", "n_test"), 0),
    (("metrics", "samples_per_s"), float("inf")),
    (("config", "batch_size"), 8193),
    (("config", "epochs"), 61),
    (("config", "seed"), 10_000),
    (("config", "lr"), 1e3),
    (("config", "momentum"), 1.0),
    (("config", "data_source"), "imagenet"),
    (("config", "model"), {"arch": "resnet1000", "hidden": 16}),
    (("config", "model"), {"arch": "net2", "hidden": 513}),
    (("weights_sha256",), "../../etc/passwd"),
    (("created",), float("nan")),
])
def test_every_field_is_type_and_range_checked(path, value):
    obj = good()
    target = obj
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    with pytest.raises(RecordError):
        parse_record(json.loads(json.dumps(obj)) if value == value else obj)


def test_the_bounds_are_the_controls_ranges():
    """One set of limits: every choice the training controls offer is valid, and the limits are the extremes."""
    from ui.training import BATCH_CHOICES, HIDDEN_CHOICES, LR_CHOICES

    assert TRAIN_BOUNDS.hidden[1] == max(HIDDEN_CHOICES) and TRAIN_BOUNDS.batch_size[1] == max(BATCH_CHOICES)
    assert TRAIN_BOUNDS.lr[0] == min(LR_CHOICES) and TRAIN_BOUNDS.epochs == (1, 60) and TRAIN_BOUNDS.seed == (0, 9999)
    for hidden in HIDDEN_CHOICES:
        for batch in BATCH_CHOICES:
            for lr in LR_CHOICES:
                assert replace(CFG, model=ModelConfig("cnn", hidden), batch_size=batch, lr=lr).problems() == []
    with pytest.raises(ConfigError, match="hidden size"):
        TrainConfig.from_dict({**CFG.to_dict(), "model": {"arch": "net2", "hidden": 10**9}})


@pytest.mark.slow
def test_a_run_records_how_many_runs_trained_alongside_it(tmp_path):
    """`concurrent_runs` (set by the job layer's `with_company`): the most runs training on the store at once while
    this one trained, itself included, counted from the store's held locks."""
    import torch

    from core.models.registry import build_model
    from core.runs.jobs import with_company
    from core.runs.store import RunStore
    from core.training.record import Progress, Run

    store = RunStore(tmp_path)
    me, other, late = (replace(CFG, seed=s) for s in (1, 2, 3))
    sent = []

    def trainer(during=None):
        def train(on_progress) -> Run:
            if during is not None:
                during()
            on_progress(Progress(2, 4, 1, [1.0, 0.5], 0.1, val_loss=0.5, val_acc=0.7))  # an epoch end
            state = build_model(me.model, torch.Generator().manual_seed(0)).state_dict()
            return Run(me, state, History([1.0, 0.5, 0.4, 0.3], 2, [0.5, 0.4], [0.7, 0.8]), dict(good()["metrics"]))
        return train

    with store.lock(me):  # as get_or_train holds it while training
        assert with_company(store, trainer(), sent.append).metrics["concurrent_runs"] == 1
        with store.lock(other):  # another run was training when this one started
            assert with_company(store, trainer(), sent.append).metrics["concurrent_runs"] == 2
        held = []

        def start_late():  # a run that starts after this one did, and is still training at its epoch end
            held.append(store.lock(late))
            held[-1].__enter__()

        try:
            assert with_company(store, trainer(start_late), sent.append).metrics["concurrent_runs"] == 2
        finally:
            held[-1].__exit__(None, None, None)
    assert len(sent) == 3 and sent[0].val_acc == 0.7  # progress still reaches the server
    run, trained = store.get_or_train(me, lambda: with_company(store, trainer(), sent.append))
    assert trained and store.summaries()[0].metrics["concurrent_runs"] == 1
