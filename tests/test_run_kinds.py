"""The one run-kind table (core.runs.kinds.KINDS): every kind is complete, and adding a kind is adding one entry.

A toy kind (a Linear(4, 2) "model") is registered as one table entry and nothing else; the schema, the store, the
archive, the job pool's dispatch and the Training runs page then all handle it."""
from __future__ import annotations

import json
import types
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from core.config import Checked, ConfigError, digest
from core.runs import kinds
from core.runs.archive import export_run, import_run
from core.runs.jobs import WorkerSetup
from core.runs.kinds import KINDS, RunKind, kind_of
from core.runs.schema import parse_record
from core.runs.store import RunStore
from core.training.record import History, Run
from support import ROOT, page_app, rerun, state_equal


@dataclass(frozen=True)
class ToyConfig(Checked):
    width: int = 4
    epochs: int = 1
    seed: int = 0

    def key(self) -> str:
        return digest({"kind": "toy", **self.to_dict()})

    def to_dict(self) -> dict:
        return asdict(self)

    def problems(self) -> list[str]:
        return [] if 1 <= self.width <= 64 and self.epochs == 1 else [f"width must be in 1..64 (got {self.width})"]

    @staticmethod
    def from_dict(d: object) -> ToyConfig:
        if not isinstance(d, dict) or set(d) != {"width", "epochs", "seed"}:
            raise ConfigError("a toy config has width, epochs and seed")
        cfg = ToyConfig(**d)
        cfg.check()
        return cfg

    def label(self) -> str:
        return f"Toy Linear({self.width}, 2)"


def toy_state(cfg: ToyConfig) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return nn.Linear(cfg.width, 2).state_dict()


def train_toy(ctx, cfg: ToyConfig, on_progress) -> Run:
    model = nn.Linear(cfg.width, 2)
    return Run(cfg, {k: v.detach().clone() for k, v in model.state_dict().items()},
               History([0.5], 1, [0.4], [0.75]),
               {"test_acc": 0.75, "test_loss": 0.4, "train_s": 0.1, "wall_s": 0.2, "samples_per_s": 10.0,
                "device": "cpu", "n_train": 8, "n_test": 4})


TOY = RunKind("toy", ToyConfig, toy_state, train_toy, family=lambda c: "Toy", model=lambda c: f"Toy w{c.width}",
              settings=lambda c: f"width {c.width}", data=lambda c: "none",
              link=lambda c: ("tensors", {"width": str(c.width)}))


@pytest.fixture
def toy_kind(monkeypatch):
    monkeypatch.setitem(KINDS, "toy", TOY)
    return TOY


def test_every_kind_is_complete_and_links_to_a_page_that_exists():
    assert kinds.DEFAULT_KIND in KINDS
    for name, kind in KINDS.items():
        assert kind.name == name
        for part in ("config", "expected_state", "family", "model", "settings", "data", "link"):
            assert callable(getattr(kind, part)), (name, part)
        cfg = kind.config.from_dict(_example(kind).to_dict())
        assert kind_of(cfg) is kind
        assert all(t.device.type == "meta" for t in kind.expected_state(cfg).values())
        link = kind.link(cfg)
        if kind.listed and link is not None:
            assert (ROOT / "pages" / f"{link[0]}.py").is_file(), link
    assert set(kinds.trainers()) == {k.config for k in KINDS.values() if k.train is not None}


def _example(kind: RunKind):
    from core.lessons.playground.config import PlaygroundConfig
    from core.lessons.playground.run import PlaygroundRun, Segment
    from core.training.config import TrainConfig
    from core.transfer.config import FeatureConfig, TransferConfig
    from core.transfer.own.config import OwnClassesConfig

    return {TrainConfig: TrainConfig(), TransferConfig: TransferConfig(),
            FeatureConfig: FeatureConfig("imagenet", "", "cifar10", 20, 2000, 32, 2000, 10000),
            PlaygroundRun: PlaygroundRun(PlaygroundConfig(), (Segment.of(PlaygroundConfig(), 3),)),
            OwnClassesConfig: OwnClassesConfig("0" * 16, '["cat", "cup"]', 10, "1" * 16)}[kind.config]


def test_a_new_kind_is_one_table_entry(toy_kind, tmp_path):
    cfg = ToyConfig(width=5)
    # the schema reads the kind's config class from the table
    store = RunStore(tmp_path / "runs")
    store.save(train_toy(None, cfg, None))
    record = parse_record(json.loads((tmp_path / "runs" / cfg.key() / "run.json").read_text()))
    assert record.kind == "toy" and record.config == cfg
    # the store checks weights against the kind's expected state, and lists it with every kind
    loaded = store.load(cfg)
    assert loaded is not None and loaded.config == cfg and loaded.state["weight"].shape == (2, 5)
    assert [s.kind for s in store.summaries(kind=None)] == ["toy"] and store.summaries("toy")[0].config == cfg
    # the archive exports it and imports it back into another store
    other = RunStore(tmp_path / "other")
    back = import_run(other, export_run(loaded, 1.7e9))
    assert back.config == cfg and state_equal(other.load(cfg).state, loaded.state)


def test_the_job_pool_dispatches_a_new_kind_by_its_table_entry(toy_kind, tmp_path):
    store = RunStore(tmp_path)
    setup = WorkerSetup(types.SimpleNamespace(runs=tmp_path), 1, kinds.trainers())
    ctx = types.SimpleNamespace(store=store)
    kind, key, payload = setup.run(ctx, ToyConfig(width=3).key(), ToyConfig(width=3), lambda p: None)
    assert kind == "done" and payload["trained"] and payload["metrics"]["test_acc"] == 0.75
    assert store.load(ToyConfig(width=3)) is not None


def test_the_training_runs_page_shows_and_links_a_new_kind(toy_kind):
    from ui import resources

    cfg = ToyConfig(width=7)
    resources.store().save(train_toy(None, cfg, None))
    try:
        at = page_app("runs")
        table = at.data_editor[0].value
        row = table[table["model"] == "Toy w7"]
        assert len(row) == 1 and row["config"].iloc[0] == "width 7" and row["data"].iloc[0] == "none"
        at.selectbox(key="runs_pick").set_value(cfg.key())
        rerun(at)
        assert at.get("link_button")[0].proto.url == "tensors?width=7"
    finally:
        resources.store().delete(cfg)
        resources.forget_stored_runs()


def test_the_kind_table_is_the_only_place_kinds_are_listed():
    """No other module keeps its own list of kinds (the four tables of before: CONFIG_KINDS, EXPECTED_STATE,
    TRAINERS, KIND_VIEWS)."""
    for path in [*(ROOT / "core").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]:
        text = Path(path).read_text()
        for name in ("CONFIG_KINDS", "EXPECTED_STATE", "TRAINERS", "KIND_VIEWS"):
            assert name not in text, (path, name)
